package awsapi

import (
	"fmt"
	"net/http"
)

// Error is an AWS-shaped API error: a code (the JSON "__type"), a message and the HTTP
// status it travels with. Service handlers return it; the dispatcher writes it.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ClientError returns an HTTP 400 error with the given AWS error code.
func ClientError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// InvalidParameter is the InvalidParameterException most validation failures use.
func InvalidParameter(format string, args ...any) *Error {
	return ClientError("InvalidParameterException", format, args...)
}

// Serialization is the SerializationException for bodies that do not fit the input shape.
func Serialization(format string, args ...any) *Error {
	return ClientError("SerializationException", format, args...)
}

// authError is a 403 for requests whose credentials or signature are not acceptable.
func authError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusForbidden}
}

// AccessDenied is AWS's answer to a principal that may not call an action: "User: ARN
// is not authorized to perform: SERVICE:ACTION", with what to do about it.
func AccessDenied(principal, service, action, why string) *Error {
	return authError("AccessDeniedException", "User: %s is not authorized to perform: %s:%s (%s)", principal, service, action, why)
}

// internalError hides the cause from the client; the dispatcher logs it.
func internalError() *Error {
	return &Error{Code: "InternalFailure", Message: "the server failed to handle the request; see the server log", Status: http.StatusInternalServerError}
}
