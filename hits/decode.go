// Package hits decodes and validates hit records as they arrive from Kafka.
//
// Decoding is deliberately shallow: a hit is kept exactly as given (so the
// JSON and NDJSON outputs match the producer's bytes field for field), and only
// what the pipeline needs is read: that it is one JSON object in valid UTF-8,
// within the size limit, with a usable "time". Everything else is the
// encoders' business. A record that fails gets a Reason; it is never dropped.
package hits

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// Reason says why a record was rejected. The values are stable: they appear in
// rejected objects and as metric labels.
type Reason string

// The rejection reasons.
const (
	ReasonTooLarge      Reason = "too_large"
	ReasonInvalidUTF8   Reason = "invalid_utf8"
	ReasonNotJSON       Reason = "not_json"
	ReasonNotObject     Reason = "not_object"
	ReasonMissingTime   Reason = "missing_time"
	ReasonBadTime       Reason = "bad_time"
	ReasonDuplicateTime Reason = "duplicate_time"
	ReasonTimeRange     Reason = "time_out_of_range"
)

// Reasons lists every reason, for metrics initialisation and docs.
var Reasons = []Reason{ReasonTooLarge, ReasonInvalidUTF8, ReasonNotJSON, ReasonNotObject,
	ReasonMissingTime, ReasonBadTime, ReasonDuplicateTime, ReasonTimeRange}

// Limits bound what is accepted.
type Limits struct {
	// MaxBytes is the largest record accepted, in bytes.
	MaxBytes int
	// MaxFuture is how far the event time may lie after the record's Kafka
	// timestamp. The Kafka timestamp, not the wall clock, is the reference so
	// that a replay decides exactly as the live run did.
	MaxFuture time.Duration
}

// Decoded is a valid hit.
type Decoded struct {
	// Value is the hit as given, made compact only when it contained line
	// breaks (NDJSON needs one line per hit).
	Value []byte
	// TimeMillis is the event time in Unix milliseconds.
	TimeMillis int64
}

// minMillisecondTime: a number of "seconds" at least this large is read as
// milliseconds (1e12 ms is September 2001; 1e12 s is the year 33658).
const minMillisecondTime = 1e12

// Decode validates raw and extracts its event time. kafkaTime is the record's
// Kafka timestamp (zero when unknown). The returned Value may alias raw.
func Decode(raw []byte, kafkaTime time.Time, lim Limits) (Decoded, Reason) {
	if lim.MaxBytes > 0 && len(raw) > lim.MaxBytes {
		return Decoded{}, ReasonTooLarge
	}
	// One pass: UTF-8, JSON validity, the "time" member, the bounds of the
	// value and whether it spans lines (utf8.Valid, json.Valid, a member
	// walk, bytes.TrimSpace and two IndexByte before).
	t := jsonscan.ScanText(raw, "time")
	switch {
	case !t.UTF8:
		return Decoded{}, ReasonInvalidUTF8
	case !t.Valid:
		return Decoded{}, ReasonNotJSON
	case !t.Object:
		return Decoded{}, ReasonNotObject
	case t.N == 0:
		return Decoded{}, ReasonMissingTime
	case t.N > 1:
		return Decoded{}, ReasonDuplicateTime
	}
	body := raw[t.Start:t.End]
	tv := t.Value
	ms, reason := parseTime(tv)
	if reason != "" {
		return Decoded{}, reason
	}
	if !kafkaTime.IsZero() && kafkaTime.Unix() > 0 && lim.MaxFuture > 0 &&
		ms > kafkaTime.Add(lim.MaxFuture).UnixMilli() {
		return Decoded{}, ReasonTimeRange
	}
	if t.LineBreaks {
		var buf bytes.Buffer
		buf.Grow(len(body))
		if err := json.Compact(&buf, body); err != nil {
			return Decoded{}, ReasonNotJSON
		}
		body = buf.Bytes()
	}
	return Decoded{Value: body, TimeMillis: ms}, ""
}

// parseTime reads a JSON number or a string holding a number of Unix seconds
// (fractions allowed), or of milliseconds when it is at least 1e12.
func parseTime(v []byte) (int64, Reason) {
	if len(v) == 0 {
		return 0, ReasonBadTime
	}
	// The common shapes, "1687241470" and 1687241470123, skip Unquote,
	// TrimSpace, isJSONNumber and strconv: up to 18 digits cannot overflow.
	d := v
	if len(d) >= 2 && d[0] == '"' && d[len(d)-1] == '"' {
		d = d[1 : len(d)-1]
	}
	if i, ok := smallUint(d); ok {
		return fromSeconds(i)
	}
	s := v
	switch v[0] {
	case '"': // a number in a string
		var ok bool
		if s, ok = jsonscan.Unquote(v); !ok {
			return 0, ReasonBadTime
		}
	case 'n': // null
		return 0, ReasonMissingTime
	}
	str := string(bytes.TrimSpace(s))
	if str == "" {
		return 0, ReasonBadTime
	}
	if !isJSONNumber(str) {
		return 0, ReasonBadTime
	}
	if i, err := strconv.ParseInt(str, 10, 64); err == nil {
		return fromSeconds(i)
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, ReasonBadTime
	}
	var ms int64
	if f >= minMillisecondTime {
		if f > 1e15 {
			return 0, ReasonTimeRange
		}
		ms = int64(f)
	} else {
		ms = int64(math.Floor(f * 1000))
	}
	return inRange(ms)
}

// fromSeconds is parseTime's result for an integer i: seconds, or
// milliseconds when it is at least 1e12.
func fromSeconds(i int64) (int64, Reason) {
	ms := i
	if i < minMillisecondTime {
		if i > math.MaxInt64/1000 || i < math.MinInt64/1000 {
			return 0, ReasonTimeRange
		}
		ms = i * 1000
	}
	return inRange(ms)
}

// inRange is ms, or time_out_of_range before 1970 or after the year 33658.
func inRange(ms int64) (int64, Reason) {
	if ms <= 0 || ms >= 1e15 {
		return 0, ReasonTimeRange
	}
	return ms, ""
}

// smallUint reads s as 1 to 18 ASCII digits (leading zeros allowed, as
// isJSONNumber allows them); ok is false for anything else.
func smallUint(s []byte) (i int64, ok bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for _, c := range s {
		if c-'0' > 9 {
			return 0, false
		}
		i = i*10 + int64(c-'0')
	}
	return i, true
}

// isJSONNumber reports whether s has JSON's number syntax, except that
// leading zeros are allowed (a string time "01687241470" is accepted): strconv
// also accepts hex, underscores, a leading '+', "Inf" and a trailing dot.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
