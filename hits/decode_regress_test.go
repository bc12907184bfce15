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
