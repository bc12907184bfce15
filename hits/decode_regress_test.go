// Regression tests for bugs found by review.
package hits_test

import (
	"testing"
	"time"

	"github.com/hitexport/hitexport/hits"
)

// BUG (minor): parseTime falls back to strconv.ParseFloat, which accepts Go
// number syntax that is not a Unix timestamp: hex floats, digit
// underscores, a leading '+', a bare '.' on either side. Such a "time" should be
// bad_time like any other unparsable value.
func TestRegressDecodeAcceptsGoOnlyNumberSyntax(t *testing.T) {
	for _, s := range []string{`"0x1.92p30"`, `"0x6490c0fep0"`, `"1_687_241_470"`, `"+1687241470"`, `"1687241470."`, `".5e10"`} {
		if _, r := hits.Decode([]byte(`{"time":`+s+`}`), time.Time{}, hits.Limits{}); r != hits.ReasonBadTime {
			t.Errorf("time %s: reason %q, want bad_time", s, r)
		}
	}
}

// BUG: a negative integer time below math.MinInt64/1000 seconds overflowed
// when made milliseconds and could wrap into the accepted range:
// -18446744073709551 s times 1000 wraps to +616 ms, so the hit was accepted
// as 1970-01-01T00:00:00.616Z. Every negative time is time_out_of_range.
func TestRegressDecodeNegativeTimeWraps(t *testing.T) {
	for _, s := range []string{`-18446744073709551`, `"-18446744073709551"`, `-9223372036854775807`,
		`-9223372036854776`, `-9223372036854775`, `-1`, `"-1687241470"`} {
		if d, r := hits.Decode([]byte(`{"time":`+s+`}`), time.Time{}, hits.Limits{}); r != hits.ReasonTimeRange {
			t.Errorf("time %s: (%d, %q), want time_out_of_range", s, d.TimeMillis, r)
		}
	}
}
