package jsonscan_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/hits"
	"github.com/hitexport/hitexport/internal/jsonscan"
)

// checkScanText: ScanText is utf8.Valid, then encoding/json.Valid and the
// member walk (reference), bytes.TrimSpace and a search for line breaks.
func checkScanText(t *testing.T, b []byte) {
	t.Helper()
	got := jsonscan.ScanText(b, "time")
	var want jsonscan.Text
	if want.UTF8 = utf8.Valid(b); want.UTF8 {
		var ok bool
		ok, want.Object, want.Value, want.N = reference(b, "time")
		if want.Valid = ok; ok {
			trimmed := bytes.TrimSpace(b)
			want.Start = bytes.Index(b, trimmed)
			want.End = want.Start + len(trimmed)
			want.LineBreaks = bytes.ContainsAny(trimmed, "\r\n")
		} else {
			want.Object = false
		}
	}
	if got.UTF8 != want.UTF8 || got.Valid != want.Valid || got.Object != want.Object || got.N != want.N ||
		!bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) ||
		got.Start != want.Start || got.End != want.End || got.LineBreaks != want.LineBreaks {
		t.Fatalf("ScanText(%q) = %+v\nwant %+v", b, got, want)
	}
	// Scan is ScanText without the UTF-8 check.
	ok, obj, tv, n := jsonscan.Scan(b, "time")
	rok, robj, rtv, rn := reference(b, "time")
	if ok != rok || obj != robj || n != rn || !bytes.Equal(tv, rtv) {
		t.Fatalf("Scan(%q) = %v %v %q %d; want %v %v %q %d", b, ok, obj, tv, n, rok, robj, rtv, rn)
	}
}

// textCases are the shapes the word-at-a-time string scan and the folded
// UTF-8 check must get right, each also placed at every offset of an 8-byte
// word by TestScanText.
var textCases = []string{
	"é", "日本", "😀", "\xc3", "\xc3\x28", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
	"\xff", "\x80", "\xef\xbf\xbd", "a\xc3", "\xc3a", `\"`, `\\`, `\\\"`, `\u00e9`, `\uD83D\uDE00`, `\u12`, `\x`, `\`,
	"\x00", "\x01", "\x1f", "\x7f", "\n", "\r", "\t", " ", `"`, "é\\\"", "\\é", "é\xff", "~", "!#",
}

func TestScanText(t *testing.T) {
	for _, c := range scanCases {
		checkScanText(t, []byte(c))
	}
	checkScanText(t, hits.Sample)
	for _, r := range gen.Generate(gen.Options{Seed: 5, Count: 2000, Start: time.Unix(1_700_000_000, 0), Span: time.Hour, BadFraction: 0.3}) {
		checkScanText(t, r.Value)
	}
	for _, sp := range textCases {
		for pre := 0; pre < 20; pre++ {
			for post := 0; post < 12; post++ {
				s := strings.Repeat("a", pre) + sp + strings.Repeat("b", post)
				// inside a value and a name, at the top level and nested
				checkScanText(t, []byte(`{"time":"1","k`+s+`":"`+s+`"}`))
				checkScanText(t, []byte(`["`+s+`"]`))
				checkScanText(t, []byte(`"`+s+`"`))
				checkScanText(t, []byte(`"`+s))
				checkScanText(t, []byte(`{"a":{"`+s+`":1},"time":"`+s+`"}`))
				// outside strings: never valid JSON, and UTF8 still exact
				checkScanText(t, []byte(`{"time":1,`+s+`}`))
				checkScanText(t, []byte(strings.Repeat(" ", pre)+`[1]`+s))
			}
		}
	}
	// Whitespace, line breaks at every position around tokens.
	for _, ws := range []string{" ", "\n", "\r\n", "\t", " \r"} {
		for _, c := range []string{
			`{W"time"W:W"1"W,W"a"W:W[W1W,WtrueW,WnullW,WfalseW]W,W"o"W:W{W}W,W"e"W:W[W]W}`,
			`W{"time":1}W`, `W[W]W`, `W"x"W`, `W1W`,
		} {
			for k := 0; k < strings.Count(c, "W"); k++ {
				i := 0
				var sb strings.Builder
				for _, r := range c {
					if r == 'W' {
						if i == k {
							sb.WriteString(ws)
						}
						i++
						continue
					}
					sb.WriteRune(r)
				}
				checkScanText(t, []byte(sb.String()))
			}
			checkScanText(t, []byte(strings.ReplaceAll(c, "W", ws)))
		}
	}
	// The literals cut short at the end of the input, and deep nesting
	// that grows the container stack past its first buffer.
	for _, c := range []string{`[t`, `[tr`, `[tru`, `[true`, `[f`, `[fals`, `[false`, `[n`, `[nul`, `[null`, `[nulL]`, `[fAlse]`} {
		checkScanText(t, []byte(c))
		checkScanText(t, []byte(c+"]"))
	}
	for _, d := range []int{63, 64, 65, 200, jsonscan.MaxDepth, jsonscan.MaxDepth + 1} {
		checkScanText(t, []byte(strings.Repeat(`{"a":[`, d/2)+strings.Repeat(`]}`, d/2)))
		checkScanText(t, []byte(`{"time":1,"x":`+strings.Repeat("[", d-1)+strings.Repeat("]", d-1)+`}`))
	}
}

// FuzzScanText: ScanText agrees with utf8.Valid, encoding/json and
// EachMember on any input.
//
//	go test ./internal/jsonscan -run x -fuzz FuzzScanText -fuzztime 60s
func FuzzScanText(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	for _, c := range textCases {
		f.Add([]byte(`{"time":"1","abcdefg` + c + `":"` + c + `"}`))
	}
	f.Add(hits.Sample)
	for _, r := range gen.Generate(gen.Options{Seed: 6, Count: 30, Start: time.Unix(1_700_000_000, 0), Span: time.Hour, BadFraction: 0.3}) {
		f.Add(r.Value)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScanText(t, b) })
}

// ScanText allocates nothing on a hit.
func TestScanTextDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if tx := jsonscan.ScanText(hits.Sample, "time"); !tx.Valid || tx.N != 1 {
			t.Fatal("ScanText(Sample)")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// BenchmarkScanText is the scan of hits.Decode alone, on generated hits.
//
//	go test -run x -bench ScanText -cpu 1 ./internal/jsonscan/
func BenchmarkScanText(b *testing.B) {
	var vals [][]byte
	var total int
	for _, r := range gen.Generate(gen.Options{Seed: 42, Count: 1024, Start: time.UnixMilli(1_700_000_000_000), Span: time.Hour}) {
		vals = append(vals, r.Value)
		total += len(r.Value)
	}
	b.SetBytes(int64(total / len(vals)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if tx := jsonscan.ScanText(vals[i&1023], "time"); !tx.Valid {
			b.Fatal("invalid")
		}
	}
}

// Every byte value at every position of a word, with any bytes after it:
// the word-at-a-time stop mask (PlainASCII and the scan share it) finds
// exactly the first byte that is not plain ASCII in a string.
func TestStopsEveryByte(t *testing.T) {
	slow := func(s string) int {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return i
			}
		}
		return len(s)
	}
	after := []string{"bbbbbbbb", "\x00\x00\x00\x00\x00\x00\x00\x00", "\"\\\x1f\xff\x80\xa2\xdc\x20", "\x21\x23\x5b\x5d\x7f\x7e\x1f\x01"}
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, a := range after {
				s := strings.Repeat("a", pos) + string([]byte{byte(c)}) + a + "cccccccc"
				if got, want := jsonscan.PlainASCII(s), slow(s); got != want {
					t.Fatalf("PlainASCII(%q) = %d, want %d", s, got, want)
				}
			}
		}
	}
}
