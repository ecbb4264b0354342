package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// MaxRequestBytes bounds a JSON API request body. ECS's largest inputs (task definitions)
// are limited to 64 KiB, so 1 MiB leaves room without letting a client exhaust memory.
const MaxRequestBytes = 1 << 20

// Action serves one operation: it decodes its input from req and returns the output value,
// or an error (an *Error reaches the client as is; anything else becomes a 500).
type Action func(ctx context.Context, req *Request) (any, error)

// Service is one AWS JSON 1.1 service: the X-Amz-Target prefix that selects it, the
// SigV4 scope name requests must be signed for, and its actions by name.
type Service struct {
	TargetPrefix string
	SigningName  string
	Actions      map[string]Action
}

// Request is a verified API request as an Action sees it.
type Request struct {
	Action      string
	AccessKeyID string
	body        []byte
}

// Decode strictly decodes the request body into v (see DecodeStrict).
func (r *Request) Decode(v any) error { return DecodeStrict(r.body, v) }

// Handle adapts a typed operation to an Action: the input is decoded strictly into In.
func Handle[In, Out any](op func(context.Context, *Request, *In) (*Out, error)) Action {
	return func(ctx context.Context, req *Request) (any, error) {
		in := new(In)
		if err := req.Decode(in); err != nil {
			return nil, err
		}
		return op(ctx, req, in)
	}
}

// JSONServer is the http.Handler for all AWS JSON 1.1 services on Gantry's listener.
type JSONServer struct {
	verifier *Verifier
	log      *slog.Logger
	services map[string]*Service
	// Authorize, when set, decides whether the owner of an access key may call an
	// action of a service (by signing name), after the signature is verified.
	Authorize func(accessKeyID, service, action string) *Error
}

// NewJSONServer serves services, verifying every request with v.
func NewJSONServer(v *Verifier, log *slog.Logger, services ...*Service) *JSONServer {
	s := &JSONServer{verifier: v, log: log, services: make(map[string]*Service)}
	for _, svc := range services {
		s.services[svc.TargetPrefix] = svc
	}
	return s
}

// Accepts reports whether r is addressed to one of the JSON services (by X-Amz-Target).
func (s *JSONServer) Accepts(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") != ""
}

func (s *JSONServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("X-Amzn-Requestid", requestID)
	out, err := s.serve(r, requestID)
	if err != nil {
		writeError(w, s.toAPIError(err, r, requestID))
		return
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeError(w, s.toAPIError(err, r, requestID))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(body)
}

func (s *JSONServer) serve(r *http.Request, requestID string) (out any, err error) {
	prefix, action, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	svc := s.services[prefix]
	if !ok || svc == nil {
		return nil, ClientError("UnknownOperationException", "X-Amz-Target %q names no service served here", r.Header.Get("X-Amz-Target"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Code: "RequestEntityTooLarge", Message: "request body exceeds 1 MiB", Status: http.StatusRequestEntityTooLarge}
		}
		return nil, ClientError("SerializationException", "reading request body: %v", err)
	}
	keyID, authErr := s.verifier.Verify(r, body, svc.SigningName)
	if authErr != nil {
		return nil, authErr
	}
	op := svc.Actions[action]
	if op == nil {
		return nil, ClientError("UnknownOperationException", "%s is not an operation Gantry implements for %s; see docs/api-coverage.md", action, svc.SigningName)
	}
	if s.Authorize != nil {
		if err := s.Authorize(keyID, svc.SigningName, action); err != nil {
			return nil, err
		}
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("api action panicked", "action", action, "request", requestID, "panic", p)
			out, err = nil, internalError()
		}
	}()
	return op(r.Context(), &Request{Action: action, AccessKeyID: keyID, body: body})
}

// toAPIError passes *Error through and turns anything else into a logged 500.
func (s *JSONServer) toAPIError(err error, r *http.Request, requestID string) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	s.log.Error("api action failed", "target", r.Header.Get("X-Amz-Target"), "request", requestID, "err", err)
	return internalError()
}

func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Write(body)
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
