// Package awsapi speaks the AWS wire protocols Gantry serves: JSON 1.1 dispatch on
// X-Amz-Target, SigV4 verification, strict request decoding, AWS error shapes,
// pagination tokens and ARNs.
//
// It must not know any service's semantics: services register their actions here and
// return *Error values; this package only carries them over the wire.
package awsapi
