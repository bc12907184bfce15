package encoders

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// The writer skips the escaping of strings the scan found plain
// (ocsfEvent.Plain, ocsfKeyVals.NamePlain/ValuePlain, ocsfRawField flags).
// TestOCSFSameBytesAsBefore checks the bytes; these tests check the claims
// themselves, so that a wrong one is found even where escaping it would
// have made no difference in the corpus.

// ocsfIsPlain: ocsfAppendString writes s as it is between quotes (the
// claim; the scan claims it of printable ASCII only, the message may hold
// "…").
func ocsfIsPlain(s string) bool { return string(ocsfAppendString(nil, s)) == `"`+s+`"` }

// ocsfCheckPlain reports the first field of ev claimed plain that is not.
func ocsfCheckPlain(ev *ocsfEvent) error {
	type field struct {
		bit ocsfEvBits
		s   string
	}
	fs := []field{{evMessage, ev.Message}, {evUID, ev.Metadata.UID}, {evOrigTime, ev.Metadata.OriginalTime}}
	if r := ev.HTTPRequest; r != nil {
		fs = append(fs, field{evUID, r.UID}, field{evMethod, r.HTTPMethod}, field{evVersion, r.Version})
		if u := r.URL; u != nil {
			fs = append(fs, field{evURLString, u.URLString}, field{evScheme, u.Scheme}, field{evURLHost, u.Hostname},
				field{evPath, u.Path}, field{evQuery, u.QueryString})
		}
	}
	if e := ev.SrcEndpoint; e != nil {
		fs = append(fs, field{evSrcIP, e.IP}, field{evCountry, e.Country})
	}
	if e := ev.DstEndpoint; e != nil {
		fs = append(fs, field{evDstHost, e.Hostname})
	}
	if r := ev.FirewallRule; r != nil {
		fs = append(fs, field{evRule, r.UID}, field{evRule, r.Condition}, field{evRuleName, r.Name}, field{evMatchLoc, r.MatchLocation})
	}
	for _, f := range fs {
		if ev.Plain&f.bit != 0 && !ocsfIsPlain(f.s) {
			return fmt.Errorf("field %#x claimed plain: %q", f.bit, f.s)
		}
	}
	if r := ev.FirewallRule; r != nil {
		for i, d := range r.MatchDetails {
			if i < 64 && r.MatchDetailsPlain&(1<<i) != 0 && !ocsfIsPlain(d) {
				return fmt.Errorf("match detail %d claimed plain: %q", i, d)
			}
		}
	}
	for _, t := range ev.Metadata.Tags {
		if t.NamePlain && !ocsfIsPlain(t.Name) || t.ValuePlain && !ocsfIsPlain(t.Value) {
			return fmt.Errorf("tag claimed plain: %q: %q", t.Name, t.Value)
		}
	}
	raw := ev.Unmapped
	for _, e := range ev.Enrichments {
		raw = append(raw[:len(raw):len(raw)], e.Data...)
	}
	for _, f := range raw {
		if f.keyPlain && !ocsfIsPlain(f.key) {
			return fmt.Errorf("key claimed plain: %q", f.key)
		}
		if f.valPlain && (len(f.val) < 2 || f.val[0] != '"' || f.val[len(f.val)-1] != '"' || !ocsfIsPlain(string(f.val[1:len(f.val)-1]))) {
			return fmt.Errorf("value claimed a plain string: %q", f.val)
		}
	}
	return nil
}

func TestOCSFPlainClaims(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	recs := ocsfEquivCorpus(t, n)
	recs = append(recs, Record{Value: []byte(`{"time":"1","method":"G\"T","uri":"/a\u2028b","domain":"h\u00e9"}`), Topic: "t\"q"})
	var m ocsfMapper
	plain := 0
	for _, r := range recs {
		ev := m.mapHit(r)
		if err := ocsfCheckPlain(ev); err != nil {
			t.Fatalf("%s: %v", clip(r.Value), err)
		}
		if ev.Plain&evUID != 0 {
			plain++
		}
	}
	if plain < n/2 { // the claims are made at all (the generated hits are plain)
		t.Fatalf("only %d of %d events with a plain uid", plain, len(recs))
	}
}

// ocsfSkipStr ends strings where jsonscan.SkipStringEsc does, and calls
// plain exactly the contents PlainASCII passes whole.
func TestOCSFSkipStr(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	alphabet := []string{"a", "Z", " ", "~", "\x7f", `\"`, `\\`, `\n`, `\u00e9`, "\x01", "\x1f", "é", "\u2028", "\xff", `"`}
	check := func(s string) {
		t.Helper()
		b := []byte(s)
		for i := range b {
			if b[i] != '"' {
				continue
			}
			end, plain := ocsfSkipStr(b, i)
			want, _ := jsonscan.SkipStringEsc(b, i)
			if end != want {
				t.Fatalf("%q at %d: end %d, want %d", s, i, end, want)
			}
			if wantPlain := end > 0 && !strings.ContainsRune(string(b[i+1:end-1]), '\\') && jsonscan.PlainASCII(string(b[i+1:end-1])) == end-i-2; plain != wantPlain {
				t.Fatalf("%q at %d: plain %v, want %v", s, i, plain, wantPlain)
			}
		}
	}
	for k := 0; k < 20000; k++ {
		var sb strings.Builder
		sb.WriteByte('"')
		for j := r.IntN(30); j > 0; j-- {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		if r.IntN(4) > 0 {
			sb.WriteByte('"')
		}
		check(sb.String())
	}
	check(`"` + strings.Repeat("x", 8) + `"`)
	check(`"` + strings.Repeat("x", 7) + `\`)
}

// ocsfPlainIPv4 never says yes where netip.ParseAddr says no, nor to a zone.
func TestOCSFPlainIPv4(t *testing.T) {
	cases := []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
		"1..2.3", ".1.2.3", "1.2.3.", "1.2.3.04", "10.0.0.1", "1.2.3.4%x", "1234.1.1.1", "0.0.0.00", "::1", "", "1.2.3.-4"}
	r := rand.New(rand.NewPCG(9, 9))
	for k := 0; k < 20000; k++ {
		var sb strings.Builder
		for j := r.IntN(16); j > 0; j-- {
			sb.WriteByte("0123456789...%a"[r.IntN(15)])
		}
		cases = append(cases, sb.String())
	}
	yes := 0
	for _, s := range cases {
		a, err := netip.ParseAddr(s)
		want := err == nil && a.Is4() && !strings.Contains(s, "%")
		got := ocsfPlainIPv4(s)
		if got && !want {
			t.Fatalf("%q: ocsfPlainIPv4 says yes, netip no", s)
		}
		if want && !got && !strings.Contains(s, "%") {
			t.Fatalf("%q: a plain IPv4 address not recognised", s)
		}
		if got {
			yes++
		}
	}
	if yes < 10 {
		t.Fatalf("only %d addresses recognised", yes)
	}
}

// ocsfKeyOrder.at says a remembered key is at raw[i:] exactly when the
// bytes are there, whatever the lengths (the word compares).
func TestOCSFKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var o ocsfKeyOrder
	var lits []string
	for k := 0; k < 40; k++ {
		lit := `"` + strings.Repeat("k", k%23) + fmt.Sprint(k) + `":`
		lits = append(lits, lit)
		o.learn(k, []byte(lit), ocsfHitBits(k))
	}
	for n := 0; n < 200000; n++ {
		k := r.IntN(len(lits))
		lit := lits[k]
		b := []byte(strings.Repeat("x", r.IntN(3)) + lit + strings.Repeat("y", r.IntN(10)))
		if r.IntN(2) == 0 { // change one byte, or cut the end
			if j := r.IntN(len(b)); r.IntN(2) == 0 {
				b[j] ^= 1 << r.IntN(7)
			} else {
				b = b[:j]
			}
		}
		for i := 0; i <= len(b); i++ {
			kl, ok := o.at(b, i, k)
			if want := strings.HasPrefix(string(b[i:]), lit); ok != want || ok && (kl.lit != lit || kl.field != ocsfHitBits(k)) {
				t.Fatalf("at(%q, %d, %d): %v, want %v", b, i, k, ok, want)
			}
		}
	}
	// Relearning a place keeps the ones before it and forgets the rest.
	o.learn(5, []byte(`"new":`), 99)
	if len(o.keys) != 6 || o.keys[4].lit != lits[4] || o.keys[5].lit != `"new":` {
		t.Fatalf("after relearning: %d keys", len(o.keys))
	}
	if _, ok := o.at([]byte(lits[6]), 0, 6); ok {
		t.Fatal("a forgotten place still known")
	}
}
