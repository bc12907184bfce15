package encoders_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
	"github.com/hitexport/hitexport/hits"
)

func golden(name string) string { return filepath.Join("..", "testdata", "golden", name) }

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedRecords decodes the seed's NDJSON sample as the pipeline does.
func seedRecords(t testing.TB) []encoders.Record {
	t.Helper()
	var out []encoders.Record
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, golden("seed_hits.ndjson"))))
	for i := 0; sc.Scan(); i++ {
		line := append([]byte(nil), sc.Bytes()...)
		d, reason := hits.Decode(line, time.Time{}, hits.Limits{MaxBytes: 1 << 20})
		if reason != "" {
			t.Fatalf("seed line %d: %s", i, reason)
		}
		out = append(out, encoders.Record{Value: d.Value, TimeMillis: d.TimeMillis, Topic: "hits", Partition: 0, Offset: int64(i)})
	}
	if len(out) != 2 {
		t.Fatalf("%d seed records", len(out))
	}
	return out
}

// encode writes recs as one object of format.
var encode = encoders.EncodeAll

func unmarshalNumbers(t testing.TB, b []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%v in %q", err, b)
	}
	if d.More() {
		t.Fatalf("trailing data after the JSON value")
	}
}

func TestGolden(t *testing.T) {
	recs := seedRecords(t)
	for _, format := range []string{"ndjson", "json"} {
		t.Run(format, func(t *testing.T) {
			got := encode(t, format, recs)
			path := golden(format + ".golden")
			if encoders.UpdateGolden() {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFile(t, path)
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s:\n got %q\nwant %q", path, got, want)
			}
		})
	}
}

// NDJSON output is the seed's NDJSON sample byte for byte.
func TestNDJSONIsSeedBytes(t *testing.T) {
	got := encode(t, "ndjson", seedRecords(t))
	if want := readFile(t, golden("seed_hits.ndjson")); !bytes.Equal(got, want) {
		t.Fatalf("NDJSON differs from the seed:\n got %q\nwant %q", got, want)
	}
	if want := readFile(t, golden("ndjson.golden")); !bytes.Equal(got, want) {
		t.Fatal("ndjson.golden is not the seed's NDJSON")
	}
}

// The JSON array parses to the seed's JSON sample, field for field, and each
// element keeps the producer's bytes (field order included).
func TestJSONArrayMatchesSeedSample(t *testing.T) {
	recs := seedRecords(t)
	got := encode(t, "json", recs)
	var gotArr, wantArr []map[string]any
	unmarshalNumbers(t, got, &gotArr)
	unmarshalNumbers(t, readFile(t, golden("seed_sample.json")), &wantArr)
	if len(gotArr) != 2 || !reflect.DeepEqual(gotArr, wantArr) {
		t.Fatalf("JSON array differs from the seed's sample:\n got %v\nwant %v", gotArr, wantArr)
	}
	for i, h := range wantArr {
		if len(h) != 17 {
			t.Fatalf("seed hit %d has %d fields", i, len(h))
		}
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(got, &raw); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		if !bytes.Equal(raw[i], recs[i].Value) {
			t.Fatalf("element %d is not the record's bytes", i)
		}
	}
	// One element per line: the array is also easy to grep.
	if lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n"); len(lines) != 4 || lines[0] != "[" || lines[3] != "]" {
		t.Fatalf("layout %q", got)
	}
}

func TestEncoderDescriptions(t *testing.T) {
	formats := encoders.Formats()
	for _, want := range []string{"json", "ndjson"} {
		found := false
		for _, f := range formats {
			found = found || f == want
		}
		if !found {
			t.Fatalf("format %s not registered: %v", want, formats)
		}
	}
	if !sortedUnique(formats) {
		t.Fatalf("Formats not sorted/unique: %v", formats)
	}
	exts := map[string]string{}
	for _, f := range formats {
		e, err := encoders.New(f)
		if err != nil {
			t.Fatal(err)
		}
		if e.Format() != f {
			t.Errorf("%s: Format() = %s", f, e.Format())
		}
		if !strings.HasPrefix(e.Extension(), ".") || e.ContentType() == "" || e.Version() == "" {
			t.Errorf("%s: ext %q type %q version %q", f, e.Extension(), e.ContentType(), e.Version())
		}
		if other, dup := exts[e.Extension()]; dup {
			t.Errorf("%s and %s share the extension %s", f, other, e.Extension())
		}
		exts[e.Extension()] = f
	}
	want := map[string][2]string{"json": {".json", "application/json"}, "ndjson": {".ndjson", "application/x-ndjson"}}
	for f, w := range want {
		e, _ := encoders.New(f)
		if e.Extension() != w[0] || e.ContentType() != w[1] {
			t.Errorf("%s: %s %s", f, e.Extension(), e.ContentType())
		}
	}
	_, err := encoders.New("xml")
	if err == nil || !strings.Contains(err.Error(), "xml") || !strings.Contains(err.Error(), "ndjson") {
		t.Fatalf("unknown format error %v", err)
	}
}

func sortedUnique(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// Formats and the switch in New are two lists: every listed format must have
// its case, and nothing else is accepted.
func TestNewKnowsExactlyFormats(t *testing.T) {
	if got, want := encoders.Formats(), []string{"json", "ndjson", "ocsf", "ocsf-json"}; !slices.Equal(got, want) {
		t.Fatalf("Formats() = %v, want %v", got, want)
	}
	for _, f := range []string{"", "JSON", "ocsf ", "ocsf.json", "rejected-", "ndjson\x00"} {
		if e, err := encoders.New(f); err == nil {
			t.Errorf("New(%q) = %s, want an error", f, e.Format())
		} else if !strings.Contains(err.Error(), "accepted: [json ndjson ocsf ocsf-json]") {
			t.Errorf("New(%q) error %q does not name the accepted formats", f, err)
		}
	}
}

// An object with no records: NDJSON is empty, array formats are "[]".
func TestEmptyObjects(t *testing.T) {
	for _, f := range encoders.Formats() {
		out := encode(t, f, nil)
		e, _ := encoders.New(f)
		if strings.Contains(e.Extension(), "ndjson") {
			if len(out) != 0 {
				t.Errorf("%s: empty object is %q", f, out)
			}
			continue
		}
		var arr []any
		if err := json.Unmarshal(out, &arr); err != nil || arr == nil || len(arr) != 0 {
			t.Errorf("%s: empty object is %q (%v)", f, out, err)
		}
	}
}

// Every format writes valid JSON for many records, one record per line.
func TestManyRecordsValid(t *testing.T) {
	seed := seedRecords(t)
	var recs []encoders.Record
	for i := 0; i < 1000; i++ {
		r := seed[i%2]
		r.Offset = int64(i)
		recs = append(recs, r)
	}
	for _, f := range encoders.Formats() {
		out := encode(t, f, recs)
		if n := checkOutput(t, f, out); n != len(recs) {
			t.Errorf("%s: %d records out of %d", f, n, len(recs))
		}
	}
}

// checkOutput validates an object of any format and returns its record count.
func checkOutput(t testing.TB, format string, out []byte) int {
	t.Helper()
	e, _ := encoders.New(format)
	if strings.Contains(e.Extension(), "ndjson") {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("%s: no final newline", format)
		}
		n := 0
		for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
			if len(out) == 0 {
				break
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(line, &obj); err != nil {
				t.Fatalf("%s: line %d is not a JSON object: %v: %q", format, n, err, line)
			}
			n++
		}
		return n
	}
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(out, &arr); err != nil {
		t.Fatalf("%s: not a JSON array of objects: %v: %q", format, err, out)
	}
	return len(arr)
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

// A failing destination is reported, never swallowed.
func TestWriterErrorsPropagate(t *testing.T) {
	rec := seedRecords(t)[0]
	for _, f := range encoders.Formats() {
		e, _ := encoders.New(f)
		w := e.NewWriter(&failWriter{})
		if err := w.Write(rec); err == nil {
			t.Errorf("%s: Write to a failing writer returned nil", f)
		}
		w = e.NewWriter(&failWriter{after: 1})
		_ = w.Write(rec)
		if err := w.Close(); err == nil && !strings.Contains(e.Extension(), "ndjson") {
			t.Errorf("%s: Close (trailer) to a failing writer returned nil", f)
		}
	}
}

// Writers reuse buffers: a record's bytes changed after Write must not
// change what was written.
func TestWriterDoesNotKeepRecordBytes(t *testing.T) {
	for _, f := range encoders.Formats() {
		rec := seedRecords(t)[0]
		val := append([]byte(nil), rec.Value...)
		rec.Value = val
		e, _ := encoders.New(f)
		var buf bytes.Buffer
		w := e.NewWriter(&buf)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		before := append([]byte(nil), buf.Bytes()...)
		for i := range val {
			val[i] = 'x'
		}
		_ = w.Close()
		if !bytes.HasPrefix(buf.Bytes(), before) {
			t.Errorf("%s: output changed after the record's bytes did", f)
		}
	}
}
