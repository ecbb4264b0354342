package awsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// DecodeStrict decodes an AWS JSON request body into v, a pointer to a struct whose json
// tags give the wire names. Unlike encoding/json it matches names case-sensitively and
// refuses members the shape does not have, and it names the offending member with its
// full path (e.g. containerDefinitions[1].cpu) in a SerializationException.
// An empty body decodes as {}.
func DecodeStrict(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return Serialization("request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Serialization("request body has data after the JSON value")
	}
	if tree == nil {
		return Serialization("request body: expected an object, got null")
	}
	if err := checkShape(tree, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return Serialization("request body does not fit the input shape: %v", err)
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkShape walks a decoded JSON tree alongside the Go type it will decode into.
func checkShape(val any, t reflect.Type, path string) error {
	if val == nil {
		return nil // null is "absent" in AWS JSON
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return checkUnmarshaler(val, t, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			return typeMismatch(path, "an object", val)
		}
		fields := fieldsOf(t)
		for name, member := range obj {
			f, ok := fields[name]
			if !ok {
				return Serialization("%s: unknown member; check the spelling against the API reference", join(path, name))
			}
			if err := checkShape(member, t.FieldByIndex(f).Type, join(path, name)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := val.(map[string]any)
		if !ok {
			return typeMismatch(path, "an object", val)
		}
		for k, member := range obj {
			if err := checkShape(member, t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		arr, ok := val.([]any)
		if !ok {
			return typeMismatch(path, "a list", val)
		}
		for i, item := range arr {
			if err := checkShape(item, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := val.(string); !ok {
			return typeMismatch(path, "a string", val)
		}
	case reflect.Bool:
		if _, ok := val.(bool); !ok {
			return typeMismatch(path, "a boolean", val)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return checkInteger(val, t.Bits(), path)
	case reflect.Float32, reflect.Float64:
		if _, ok := val.(json.Number); !ok {
			return typeMismatch(path, "a number", val)
		}
	}
	return nil
}

// checkUnmarshaler lets a type that decodes itself (such as Timestamp) judge the member,
// so that its complaint can be reported with the member's path.
func checkUnmarshaler(val any, t reflect.Type, path string) error {
	raw, err := json.Marshal(val) // numbers stay json.Number, so they keep their digits
	if err == nil {
		err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw)
	}
	if err != nil {
		if path == "" {
			path = "request body"
		}
		return Serialization("%s: %v", path, err)
	}
	return nil
}

func checkInteger(val any, bits int, path string) error {
	n, ok := val.(json.Number)
	if !ok {
		return typeMismatch(path, "an integer", val)
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return Serialization("%s: %s is not an integer", path, n)
	}
	if bits < 64 && (i > math.MaxInt32 || i < math.MinInt32) {
		return Serialization("%s: %s is out of range for a 32-bit integer", path, n)
	}
	return nil
}

func typeMismatch(path, want string, got any) error {
	kind := "a number"
	switch got.(type) {
	case string:
		kind = "a string"
	case bool:
		kind = "a boolean"
	case []any:
		kind = "a list"
	case map[string]any:
		kind = "an object"
	}
	if path == "" {
		path = "request body"
	}
	return Serialization("%s: expected %s, got %s", path, want, kind)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fieldCache maps a struct type to its wire member names and their field indexes. Like
// encoding/json's own type cache it is process-wide: it only memoises what reflection
// says about a type, which never changes.
var fieldCache sync.Map

func fieldsOf(t reflect.Type) map[string][]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string][]int)
	}
	fields := make(map[string][]int)
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f.Index
	}
	fieldCache.Store(t, fields)
	return fields
}
