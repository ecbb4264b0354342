package awsapi

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Timestamp is an instant as the ECS JSON 1.1 protocol carries it: a JSON number of
// seconds since the Unix epoch with a fraction, at millisecond precision
// (1631268704.884). AWS itself sometimes writes the exponent form (1.631268704884E9),
// so decoding accepts any JSON number.
type Timestamp struct {
	time.Time
}

// NewTimestamp returns t truncated to the millisecond, the precision the wire keeps, so
// that a stored value compares equal to the one read back.
func NewTimestamp(t time.Time) Timestamp {
	return Timestamp{Time: t.Truncate(time.Millisecond)}
}

// MarshalJSON writes the instant as decimal seconds with up to three fraction digits.
// Integer arithmetic keeps it exact; a float would print 1631268704.8840001.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 { // floor division for instants before 1970
		sec, frac = sec-1, frac+1000
	}
	if frac == 0 {
		return strconv.AppendInt(nil, sec, 10), nil
	}
	return fmt.Appendf(nil, "%d.%s", sec, fractionDigits(frac)), nil
}

// fractionDigits renders a millisecond count as fraction digits without trailing zeros.
func fractionDigits(frac int64) string {
	s := fmt.Sprintf("%03d", frac)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

// UnmarshalJSON reads a JSON number of epoch seconds; null leaves the zero Timestamp.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("timestamp %s: want a number of epoch seconds", b)
	}
	if math.Abs(f) > 1e14 { // beyond year 3 million: not a time any caller means
		return fmt.Errorf("timestamp %s: out of range", b)
	}
	*t = Timestamp{Time: time.UnixMilli(int64(math.Round(f * 1000))).UTC()}
	return nil
}
