package ecs

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// parseTaskCPU parses a task-level cpu: CPU units ("256", "1024") or vCPUs ("1 vCPU",
// "0.25 vCPU", ".5 vcpu"), 1 vCPU being 1024 units. The result is a positive number
// of units; fractions of a unit are refused.
func parseTaskCPU(s string) (int, error) {
	num, unit := splitQuantity(s)
	var (
		v   int
		err error
	)
	switch strings.ToLower(unit) {
	case "":
		v, err = parseDecimal(num, 1, false)
	case "vcpu":
		v, err = parseDecimal(num, 1024, true)
	default:
		err = fmt.Errorf("unknown unit %s", quoteShort(unit))
	}
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s is not a positive number of CPU units (1024) or vCPUs (1 vCPU)", quoteShort(s))
	}
	return v, nil
}

// parseTaskMemory parses a task-level memory: MiB ("512", "512 MiB", "512 MB") or GiB
// ("2 GB", "2gb", "0.5 GiB"); like ECS, GB means 1024 MiB. The result is a positive
// number of MiB; fractions of a MiB are refused.
func parseTaskMemory(s string) (int, error) {
	num, unit := splitQuantity(s)
	var (
		v   int
		err error
	)
	switch strings.ToLower(unit) {
	case "":
		v, err = parseDecimal(num, 1, false)
	case "mb", "mib":
		v, err = parseDecimal(num, 1, true)
	case "gb", "gib":
		v, err = parseDecimal(num, 1024, true)
	default:
		err = fmt.Errorf("unknown unit %s", quoteShort(unit))
	}
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s is not a positive amount of MiB (512) or GB (2 GB)", quoteShort(s))
	}
	return v, nil
}

// splitQuantity splits "0.5 vCPU" into "0.5" and "vCPU", trimming spaces.
func splitQuantity(s string) (num, unit string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parseDecimal returns num × factor for a plain decimal num ("12", "0.25", ".5"; a
// fraction only when allowed), in exact integer arithmetic; the product must be whole
// and fit in an int32, the width of ECS's cpu and memory.
func parseDecimal(num string, factor int, fractionOK bool) (int, error) {
	whole, frac, hasDot := strings.Cut(num, ".")
	switch {
	case hasDot && !fractionOK:
		return 0, fmt.Errorf("a fraction needs a unit")
	case whole == "" && frac == "", len(whole) > 10, len(frac) > 9, !isDigits(whole), !isDigits(frac):
		return 0, fmt.Errorf("not a decimal number")
	}
	// At most 10 + 9 digits times 1024 stays far inside int64.
	w, _ := strconv.ParseInt(cmp.Or(whole, "0"), 10, 64)
	f, _ := strconv.ParseInt(cmp.Or(frac, "0"), 10, 64)
	scale := int64(1)
	for range len(frac) {
		scale *= 10
	}
	if f*int64(factor)%scale != 0 {
		return 0, fmt.Errorf("not a whole number of units")
	}
	v := w*int64(factor) + f*int64(factor)/scale
	if v > 1<<31-1 {
		return 0, fmt.Errorf("too large")
	}
	return int(v), nil
}
