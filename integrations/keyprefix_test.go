package integrations

import (
	"strings"
	"testing"
)

func TestSplitKeyPrefix(t *testing.T) {
	for _, c := range []struct{ in, lit, tmpl string }{
		{"", "", ""},
		{"waf/", "waf/", ""},
		{"waf/{yyyy}/{mm}/{dd}/", "waf/", "{yyyy}/{mm}/{dd}/"},
		{"dt={yyyy}-{mm}-{dd}/hour={hh}/", "", "dt={yyyy}-{mm}-{dd}/hour={hh}/"},
		{"a/b/x{yyyy}/", "a/b/", "x{yyyy}/"},
	} {
		lit, tmpl := SplitKeyPrefix(c.in)
		if lit != c.lit || tmpl != c.tmpl {
			t.Errorf("SplitKeyPrefix(%q) = %q, %q; want %q, %q", c.in, lit, tmpl, c.lit, c.tmpl)
		}
	}
}

// A key prefix's placeholder folders must make a valid key template.
func TestKeyPrefixTemplateValidation(t *testing.T) {
	for _, c := range []struct {
		in, err string
	}{
		{"waf/dt={yyyy}-{mm}-{dd}/hour={hh}/", ""},
		{"{yyyy}/{mm}/", ""},
		{"waf/_{yyyy}/", "folder"},      // folders starting with _ are the exporter's own
		{"waf/{yyyy}{mm}", "file name"}, // the placeholders must end in a folder
		{"{week}/", "unknown placeholder"},
	} {
		e := validatePrefix(c.in)
		switch {
		case c.err == "" && e != nil:
			t.Errorf("%q: unexpected error %v", c.in, e)
		case c.err != "" && (e == nil || !strings.Contains(e.Message, c.err)):
			t.Errorf("%q: error %v, want one containing %q", c.in, e, c.err)
		}
	}
}
