package ecs

// validName reports whether s is 1 to 255 letters, digits, hyphens and underscores: the
// rule ECS applies to cluster, family and container names.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// orEmpty returns s, or an empty non-nil slice so it encodes as [] as AWS returns it.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
