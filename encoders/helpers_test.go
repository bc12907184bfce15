package encoders

import (
	"bytes"
	"flag"
	"testing"
)

// -update rewrites the golden files instead of comparing with them:
//
//	go test ./encoders -run 'TestGolden$' -update   # testdata/golden/*.golden
//	go test ./encoders -run OCSF -update            # testdata/ocsf/
var updateGolden = flag.Bool("update", false, "rewrite golden files")

// UpdateGolden reports whether -update was given. It is exported for the
// tests of package encoders_test, which share this test binary.
func UpdateGolden() bool { return *updateGolden }

// EncodeAll writes recs as one object of format, failing the test on any
// error (for the tests of both packages).
func EncodeAll(t testing.TB, format string, recs []Record) []byte {
	t.Helper()
	enc, err := New(format)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := enc.NewWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}
