package encoders

import (
	"bytes"
	"testing"
)

func TestRejectedEncoder(t *testing.T) {
	if Rejected.Format() != "rejected" || Rejected.Extension() != ".rejected.ndjson" || Rejected.ContentType() != "application/x-ndjson" ||
		Rejected.Version() != "rejected/1" {
		t.Fatalf("rejected encoder: %s %s %s %s", Rejected.Format(), Rejected.Extension(), Rejected.ContentType(), Rejected.Version())
	}
	if mf, ok := Rejected.(interface{ MetadataFormat() string }); !ok || mf.MetadataFormat() != "rejected-ndjson" {
		t.Errorf("metadata format of rejected objects changed")
	}
	var buf bytes.Buffer
	w := Rejected.NewWriter(&buf)
	for _, line := range []string{`{"offset":1}`, `{"offset":2}`} {
		if err := w.Write(Record{Value: []byte(line)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "{\"offset\":1}\n{\"offset\":2}\n" {
		t.Errorf("rejected lines: %q", buf.String())
	}
	if _, err := New("rejected"); err == nil {
		t.Errorf("rejected must not be a configurable format")
	}
}
