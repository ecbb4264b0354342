package registry

import (
	"encoding/json"
	"errors"
	"net/http"
)

// apiError is an error in the distribution spec's shape; code is one of the spec's codes.
type apiError struct {
	status  int
	code    string
	message string
	detail  any
	// cause is a sentinel callers outside the HTTP path can test with errors.Is.
	cause error
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (e *apiError) Unwrap() error { return e.cause }

// because records the sentinel an error stands for.
func (e *apiError) because(cause error) *apiError {
	e.cause = cause
	return e
}

func errorf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// The spec's error codes, with the status each travels with.
func errBlobUnknown(msg string) *apiError { return errorf(http.StatusNotFound, "BLOB_UNKNOWN", msg) }
func errBlobUploadUnknown() *apiError {
	return errorf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload session unknown or finished; start a new upload")
}
func errBlobUploadInvalid(msg string) *apiError {
	return errorf(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", msg)
}
func errDigestInvalid(msg string) *apiError {
	return errorf(http.StatusBadRequest, "DIGEST_INVALID", msg)
}
func errManifestBlobUnknown(msg string) *apiError {
	return errorf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", msg)
}
func errManifestInvalid(msg string) *apiError {
	return errorf(http.StatusBadRequest, "MANIFEST_INVALID", msg)
}
func errManifestUnknown(msg string) *apiError {
	return errorf(http.StatusNotFound, "MANIFEST_UNKNOWN", msg)
}
func errTagInvalid(tag string) *apiError {
	return errorf(http.StatusBadRequest, "MANIFEST_INVALID", "tag "+tag+" is invalid: up to 128 letters, digits, _ . -, not starting with . or -")
}
func errNameInvalid(msg string) *apiError { return errorf(http.StatusBadRequest, "NAME_INVALID", msg) }
func errNameUnknown(name string) *apiError {
	return errorf(http.StatusNotFound, "NAME_UNKNOWN", "repository "+name+" is not known to this registry")
}
func errSizeInvalid(msg string) *apiError { return errorf(http.StatusBadRequest, "SIZE_INVALID", msg) }
func errUnauthorized(msg string) *apiError {
	return errorf(http.StatusUnauthorized, "UNAUTHORIZED", msg)
}
func errDenied(msg string) *apiError { return errorf(http.StatusForbidden, "DENIED", msg) }
func errUnsupported(msg string) *apiError {
	return errorf(http.StatusMethodNotAllowed, "UNSUPPORTED", msg)
}
func errTooManyRequests(msg string) *apiError {
	return errorf(http.StatusTooManyRequests, "TOOMANYREQUESTS", msg)
}

// writeAPIError writes e as {"errors":[{"code","message","detail"}]}.
func writeAPIError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	json.NewEncoder(w).Encode(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{e.code, e.message, e.detail}}})
}

// ErrorCode returns the distribution-spec error code carried by err ("" if none), so
// callers outside the HTTP path (ECR's PutImage) can translate registry refusals.
func ErrorCode(err error) string {
	var e *apiError
	if errors.As(err, &e) {
		return e.code
	}
	return ""
}
