// Regression tests for bugs found by review.
package config_test

import (
	"testing"

	"github.com/hitexport/hitexport/config"
)

// BUG (minor): WINDOW accepts durations that are not whole seconds (1500ms,
// 2.5s divide a day), but object keys carry the window start in whole Unix
// seconds (pipeline.Layout.Key: windowStart/1000) and verify reads it back
// as such, so two windows can share a key prefix and the checker reports
// wrong windows. Validate should require a whole number of seconds.
func TestRegressWindowMustBeWholeSeconds(t *testing.T) {
	for _, w := range []string{"1500ms", "2.5s", "22.5s"} {
		if _, err := config.Parse(with("HITEXPORT_WINDOW", w)); err == nil {
			t.Errorf("WINDOW=%s accepted", w)
		}
	}
}
