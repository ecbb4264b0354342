package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeInput is an input shape with every kind of member AWS JSON inputs use.
type decodeInput struct {
	Name     string            `json:"name"`
	Count    *int32            `json:"count,omitempty"`
	Enabled  *bool             `json:"enabled,omitempty"`
	Weight   *float64          `json:"weight,omitempty"`
	Items    []decodeItem      `json:"items,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Inner    *decodeInner      `json:"inner,omitempty"`
	At       Timestamp         `json:"at,omitzero"`
	Ended    *Timestamp        `json:"ended,omitempty"`
	Untagged string            // no tag: the wire name is the Go name, exactly
	Ignored  string            `json:"-"`
}

type decodeItem struct {
	Name  string `json:"name"`
	Count *int32 `json:"count,omitempty"`
}

type decodeInner struct {
	Value   string       `json:"value,omitempty"`
	Enabled *bool        `json:"enabled,omitempty"`
	Inner   *decodeInner `json:"inner,omitempty"`
}

var decodeValidCases = []struct {
	name string
	body string
	want decodeInput
}{
	{
		name: "every member",
		body: `{"name":"web","count":3,"enabled":true,"weight":0.5,
			"items":[{"name":"a","count":1},{"name":"b"}],
			"tags":{"env":"prod","team":""},
			"inner":{"value":"v","enabled":false,"inner":{"value":"deeper"}},
			"at":1631268704.884,"ended":1.631268704884E9,"Untagged":"u"}`,
		want: decodeInput{
			Name: "web", Count: new(int32(3)), Enabled: new(true), Weight: new(0.5),
			Items: []decodeItem{{Name: "a", Count: new(int32(1))}, {Name: "b"}},
			Tags:  map[string]string{"env": "prod", "team": ""},
			Inner: &decodeInner{Value: "v", Enabled: new(false), Inner: &decodeInner{Value: "deeper"}},
			At:    Timestamp{time.UnixMilli(1631268704884).UTC()},
			Ended: &Timestamp{time.UnixMilli(1631268704884).UTC()},

			Untagged: "u",
		},
	},
	{name: "empty body", body: ``},
	{name: "whitespace body", body: " \n\t "},
	{name: "empty object", body: `{}`},
	{name: "surrounding whitespace", body: "\n  {\"name\":\"x\"}  \n", want: decodeInput{Name: "x"}},
	{
		name: "null members are absent",
		body: `{"name":null,"count":null,"enabled":null,"weight":null,"items":null,"tags":null,
			"inner":null,"at":null,"ended":null,"Untagged":null}`,
	},
	{name: "null nested member", body: `{"inner":{"value":null,"inner":null}}`, want: decodeInput{Inner: &decodeInner{}}},
	{name: "null map value", body: `{"tags":{"k":null}}`, want: decodeInput{Tags: map[string]string{"k": ""}}},
	{name: "empty list and map", body: `{"items":[],"tags":{}}`, want: decodeInput{Items: []decodeItem{}, Tags: map[string]string{}}},
	{name: "int32 maximum", body: `{"count":2147483647}`, want: decodeInput{Count: new(int32(2147483647))}},
	{name: "int32 minimum", body: `{"count":-2147483648}`, want: decodeInput{Count: new(int32(-2147483648))}},
	{name: "integer weight", body: `{"weight":2}`, want: decodeInput{Weight: new(2.0)}},
	{name: "escaped string", body: `{"name":"a\"b\u00e9\n"}`, want: decodeInput{Name: "a\"b\u00e9\n"}},
}

var decodeErrorCases = []struct {
	name string
	body string
	want []string // substrings of the message; the first names the member by its path
}{
	{"unknown top-level member", `{"name":"x","nme":"y"}`, []string{"nme: unknown member"}},
	{"unknown member in a list element", `{"items":[{"name":"a"},{"nme":"b"}]}`, []string{"items[1].nme: unknown member"}},
	{"unknown member in a nested struct", `{"inner":{"inner":{"valu":"x"}}}`, []string{"inner.inner.valu: unknown member"}},
	{"member names are case-sensitive", `{"Name":"x"}`, []string{"Name: unknown member"}},
	{"untagged member is case-sensitive", `{"untagged":"x"}`, []string{"untagged: unknown member"}},
	{"case-folded nested member", `{"items":[{"NAME":"a"}]}`, []string{"items[0].NAME: unknown member"}},
	{"member tagged json:\"-\"", `{"Ignored":"x"}`, []string{"Ignored: unknown member"}},

	{"string for an integer", `{"count":"3"}`, []string{"count: expected an integer, got a string"}},
	{"number for a string", `{"name":3}`, []string{"name: expected a string, got a number"}},
	{"bool for a string", `{"name":true}`, []string{"name: expected a string, got a boolean"}},
	{"object for a string", `{"name":{}}`, []string{"name: expected a string, got an object"}},
	{"string for a bool", `{"enabled":"true"}`, []string{"enabled: expected a boolean, got a string"}},
	{"string for a float", `{"weight":"0.5"}`, []string{"weight: expected a number, got a string"}},
	{"object for a list", `{"items":{"name":"a"}}`, []string{"items: expected a list, got an object"}},
	{"string for a list element", `{"items":["a"]}`, []string{"items[0]: expected an object, got a string"}},
	{"list for an object", `{"inner":[]}`, []string{"inner: expected an object, got a list"}},
	{"list for a map", `{"tags":["a"]}`, []string{"tags: expected an object, got a list"}},
	{"number for a map value", `{"tags":{"env":1}}`, []string{"tags.env: expected a string, got a number"}},
	{"wrong type in a list element", `{"items":[{"name":"a"},{"count":"1"}]}`, []string{"items[1].count: expected an integer, got a string"}},
	{"wrong type deep inside", `{"inner":{"inner":{"enabled":1}}}`, []string{"inner.inner.enabled: expected a boolean, got a number"}},

	{"integer above int32", `{"count":2147483648}`, []string{"count: 2147483648 is out of range for a 32-bit integer"}},
	{"integer below int32", `{"count":-2147483649}`, []string{"count: -2147483649 is out of range"}},
	{"integer out of range in a list", `{"items":[{"count":99999999999}]}`, []string{"items[0].count: 99999999999 is out of range"}},
	{"integer beyond int64", `{"count":99999999999999999999}`, []string{"count: 99999999999999999999 is not an integer"}},
	{"fractional integer", `{"count":1.5}`, []string{"count: 1.5 is not an integer"}},
	{"integer with a fraction part", `{"count":3.0}`, []string{"count: 3.0 is not an integer"}},
	{"integer with an exponent", `{"count":1e2}`, []string{"count: 1e2 is not an integer"}},

	{"string for a timestamp", `{"at":"yesterday"}`, []string{"at: ", "yesterday"}},
	{"bool for a pointer timestamp", `{"ended":true}`, []string{"ended: "}},
	{"timestamp out of range", `{"at":1e300}`, []string{"at: ", "out of range"}},

	{"invalid JSON", `{"name":`, []string{"not valid JSON"}},
	{"unquoted member name", `{name:"x"}`, []string{"not valid JSON"}},
	{"single quotes", `{'name':'x'}`, []string{"not valid JSON"}},
	{"trailing comma", `{"name":"x",}`, []string{"not valid JSON"}},
	{"trailing value", `{} {}`, []string{"data after the JSON value"}},
	{"trailing garbage", `{"name":"x"}x`, []string{"data after the JSON value"}},
	{"trailing closing brace", `{"name":"x"}}`, []string{"data after the JSON value"}},
	{"trailing closing bracket", `{}]`, []string{"data after the JSON value"}},
	{"top-level null", `null`, []string{"request body: expected an object, got null"}},

	{"top-level list", `[]`, []string{"request body: expected an object, got a list"}},
	{"top-level string", `"x"`, []string{"request body: expected an object, got a string"}},
	{"top-level number", `1`, []string{"request body: expected an object, got a number"}},
	{"top-level bool", `true`, []string{"request body: expected an object, got a boolean"}},
}

func TestDecodeStrictAccepts(t *testing.T) {
	t.Parallel()
	for _, tt := range decodeValidCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got decodeInput
			if err := DecodeStrict([]byte(tt.body), &got); err != nil {
				t.Fatalf("DecodeStrict(%s) = %v, want nil", tt.body, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeStrict(%s) decoded\n%+v\nwant\n%+v", tt.body, got, tt.want)
			}
		})
	}
}

func TestDecodeStrictRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range decodeErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got decodeInput
			err := DecodeStrict([]byte(tt.body), &got)
			assertAPIError(t, err, "SerializationException", http.StatusBadRequest, tt.want...)
		})
	}
}

// TestDecodeStrictIntoStructWithoutTags checks that a member is matched against the Go
// field name exactly when the field has no json tag, where encoding/json would fold case.
func TestDecodeStrictIntoStructWithoutTags(t *testing.T) {
	t.Parallel()
	type shape struct{ ClusterName string }
	var got shape
	if err := DecodeStrict([]byte(`{"ClusterName":"prod"}`), &got); err != nil || got.ClusterName != "prod" {
		t.Fatalf("DecodeStrict = %+v, %v; want ClusterName prod", got, err)
	}
	err := DecodeStrict([]byte(`{"clusterName":"prod"}`), &got)
	assertAPIError(t, err, "SerializationException", http.StatusBadRequest, "clusterName: unknown member")
}

// assertAPIError checks that err is an *Error with the given code and status whose
// message contains each of want.
func assertAPIError(t *testing.T, err error, code string, status int, want ...string) {
	t.Helper()
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want an *Error %s", err, err, code)
	}
	if apiErr.Code != code || apiErr.Status != status {
		t.Errorf("error = %d %s, want %d %s (message %q)", apiErr.Status, apiErr.Code, status, code, apiErr.Message)
	}
	for _, w := range want {
		if !strings.Contains(apiErr.Message, w) {
			t.Errorf("error message %q does not contain %q", apiErr.Message, w)
		}
	}
}

func FuzzDecodeStrict(f *testing.F) {
	for _, tt := range decodeValidCases {
		f.Add([]byte(tt.body))
	}
	for _, tt := range decodeErrorCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got decodeInput
		err := DecodeStrict(body, &got)
		if err != nil {
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Code != "SerializationException" || apiErr.Status != http.StatusBadRequest || apiErr.Message == "" {
				t.Fatalf("DecodeStrict(%q) = %v, want a 400 SerializationException with a message", body, err)
			}
			return
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if !reflect.DeepEqual(got, decodeInput{}) {
				t.Fatalf("DecodeStrict(%q) decoded %+v, want the zero input", body, got)
			}
			return
		}
		// What the strict decoder accepts, encoding/json accepts too (even refusing unknown
		// fields, which it matches case-insensitively), with the same result.
		var want decodeInput
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("DecodeStrict(%q) accepted it, but encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeStrict(%q) decoded %+v, encoding/json %+v", body, got, want)
		}
	})
}
