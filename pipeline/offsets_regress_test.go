// Regression tests for bugs found by review.
package pipeline_test

import (
	"testing"

	"github.com/hitexport/hitexport/pipeline"
)

// BUG (minor): DecodeCommitState ignores strconv's range error but keeps its
// value, so "m=" or "c=" beyond int64 yield math.MaxInt64: a restored
// ClosedBefore of MaxInt64 makes every window closed and every hit late.
// Foreign or damaged metadata must give the zero state for that field.
func TestRegressDecodeCommitStateOverflow(t *testing.T) {
	st := pipeline.DecodeCommitState("hx1 m=99999999999999999999 c=99999999999999999999 r=1:2:99999999999999999999")
	if st.MaxEvent != 0 || st.ClosedBefore != 0 || len(st.Ranges) != 0 {
		t.Fatalf("%+v", st)
	}
}
