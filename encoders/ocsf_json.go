package encoders

// Writing the OCSF event as JSON, by hand, in a fixed key order.

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// The constant fragments of the output: the event's head up to type_name
// for each known activity, the severity, the action and disposition of the
// known block statuses, the MITRE attacks and the enrichment's fixed members,
// written once by the same code that writes the variable ones.
var (
	ocsfHeads      [10][]byte // by activity_id 0..9 (with their own names)
	ocsfSeverities [len(ocsfSeverityNames)][]byte
	ocsfHeadSevs   [len(ocsfHeads)][len(ocsfSeverities)][]byte // head, severity and `,"time":`
	ocsfOutcomes   = []struct {
		actionID, dispositionID int
		action, disposition     string
		frag, fragAlert         []byte // with is_alert false, true
	}{{2, 2, "Denied", "Blocked", nil, nil}, {1, 17, "Allowed", "Logged", nil, nil}, {1, 1, "Allowed", "Allowed", nil, nil}, {0, 0, "Unknown", "Unknown", nil, nil}}
	ocsfAttackFrags []struct {
		attack ocsfAttack
		frag   []byte
		member []byte // `,"attacks":[` frag `]`
	}
)

func init() {
	for id := range ocsfHeads {
		ocsfHeads[id] = ocsfAppendHead(nil, id, ocsfActivityNames[id], ocsfTypeNames[id])
	}
	for i := range ocsfSeverities {
		ocsfSeverities[i] = ocsfAppendSeverity(nil, i)
	}
	for i := range ocsfOutcomes {
		o := &ocsfOutcomes[i]
		o.frag = ocsfAppendOutcome(nil, o.actionID, o.action, o.dispositionID, o.disposition)
		o.fragAlert = append(o.frag[:len(o.frag):len(o.frag)], `,"is_alert":true`...)
		o.frag = append(o.frag, `,"is_alert":false`...)
	}
	for id := range ocsfHeadSevs {
		for sev := range ocsfHeadSevs[id] {
			f := append(append([]byte(nil), ocsfHeads[id]...), ocsfSeverities[sev]...)
			ocsfHeadSevs[id][sev] = append(f, `,"time":`...)
		}
	}
	for _, a := range []*ocsfAttack{ocsfAttackExploit, ocsfAttackBrute, ocsfAttackScanning} {
		f := ocsfAppendAttack(nil, a)
		ocsfAttackFrags = append(ocsfAttackFrags, struct {
			attack ocsfAttack
			frag   []byte
			member []byte
		}{*a, f, append(append([]byte(`,"attacks":[`), f...), ']')})
	}
}

// ocsfAttacksFrag is the attacks member of the one attack a, when a is one
// of the known ones; else nil.
func ocsfAttacksFrag(a ocsfAttack) []byte {
	for i := range ocsfAttackFrags {
		if f := &ocsfAttackFrags[i]; a == f.attack {
			return f.member
		}
	}
	return nil
}

func ocsfAppendHead(b []byte, activityID int, activityName, typeName string) []byte {
	b = append(b, `{"activity_id":`...)
	b = strconv.AppendInt(b, int64(activityID), 10)
	b = ocsfAppendStr(b, `,"activity_name":`, activityName)
	b = append(b, `,"category_uid":4,"category_name":"Network Activity","class_uid":4002,"class_name":"HTTP Activity","type_uid":`...)
	b = strconv.AppendInt(b, int64(ocsfClassUID*100+activityID), 10)
	return ocsfAppendStr(b, `,"type_name":`, typeName)
}

func ocsfAppendSeverity(b []byte, severityID int) []byte {
	b = append(b, `,"severity_id":`...)
	b = strconv.AppendInt(b, int64(severityID), 10)
	return ocsfAppendStr(b, `,"severity":`, ocsfSeverityNames[severityID])
}

func ocsfAppendOutcome(b []byte, actionID int, action string, dispositionID int, disposition string) []byte {
	b = append(b, `,"action_id":`...)
	b = strconv.AppendInt(b, int64(actionID), 10)
	b = ocsfAppendStr(b, `,"action":`, action)
	b = append(b, `,"disposition_id":`...)
	b = strconv.AppendInt(b, int64(dispositionID), 10)
	return ocsfAppendStr(b, `,"disposition":`, disposition)
}

func ocsfAppendAttack(b []byte, a *ocsfAttack) []byte {
	b = append(b, '{')
	n := len(b)
	b = a.Tactic.appendJSON(b, `,"tactic":`)
	b = a.Technique.appendJSON(b, `,"technique":`)
	b = a.SubTechnique.appendJSON(b, `,"sub_technique":`)
	b = ocsfDropComma(b, n)
	return append(b, '}')
}

func (ev *ocsfEvent) appendJSON(b []byte) []byte {
	id, sev := ev.ActivityID, ev.SeverityID
	if id >= 0 && id < len(ocsfHeads) && ev.ActivityName == ocsfActivityNames[id] && ev.TypeName == ocsfTypeNames[id] &&
		sev >= 0 && sev < len(ocsfSeverities) {
		b = append(b, ocsfHeadSevs[id][sev]...)
	} else {
		if id >= 0 && id < len(ocsfHeads) && ev.ActivityName == ocsfActivityNames[id] && ev.TypeName == ocsfTypeNames[id] {
			b = append(b, ocsfHeads[id]...)
		} else {
			b = ocsfAppendHead(b, ev.ActivityID, ev.ActivityName, ev.TypeName)
		}
		if sev >= 0 && sev < len(ocsfSeverities) {
			b = append(b, ocsfSeverities[sev]...)
		} else {
			b = ocsfAppendSeverity(b, sev) // panics on the name, as it did
		}
		b = append(b, `,"time":`...)
	}
	b = strconv.AppendInt(b, ev.Time, 10)
	known := false
	for i := range ocsfOutcomes {
		if o := &ocsfOutcomes[i]; o.actionID == ev.ActionID && o.dispositionID == ev.DispositionID && o.action == ev.Action && o.disposition == ev.Disposition {
			if ev.IsAlert {
				b = append(b, o.fragAlert...)
			} else {
				b = append(b, o.frag...)
			}
			known = true
			break
		}
	}
	if !known {
		b = ocsfAppendOutcome(b, ev.ActionID, ev.Action, ev.DispositionID, ev.Disposition)
		if ev.IsAlert {
			b = append(b, `,"is_alert":true`...)
		} else {
			b = append(b, `,"is_alert":false`...)
		}
	}
	pl := ev.Plain
	b = ocsfAppendOptStrP(b, `,"message":"`, ev.Message, pl&evMessage != 0)

	md := &ev.Metadata
	b = append(b, `,"metadata":{"version":"`+ocsfSchemaVersion+`","product":{"name":"`+ocsfProductName+
		`","vendor_name":"`+ocsfVendorName+`"},"profiles":["`+ocsfProfile+`"]`...)
	b = ocsfAppendOptStrP(b, `,"uid":"`, md.UID, pl&evUID != 0)
	if md.Topic != "" {
		if ev.topic != nil && ev.topic.topic == md.Topic {
			b = append(b, ev.topic.uid...)
		} else {
			b = ocsfAppendStr(b, `,"original_event_uid":`, md.Topic)
			b = append(b[:len(b)-1], '/') // inside the string: topic/partition/offset
		}
		b = strconv.AppendInt(b, int64(md.Partition), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, md.Offset, 10)
		b = append(b, '"')
	}
	b = ocsfAppendOptStrP(b, `,"original_time":"`, md.OriginalTime, pl&evOrigTime != 0)
	if md.Topic != "" {
		if ev.topic != nil && ev.topic.topic == md.Topic {
			b = append(b, ev.topic.log...)
		} else {
			b = ocsfAppendStr(b, `,"log_provider":"Kafka","log_name":`, md.Topic)
		}
	}
	if len(md.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i := range md.Tags {
			t := &md.Tags[i]
			if i > 0 {
				b = append(b, ',')
			}
			if t.NamePlain && t.HasValue && t.ValuePlain {
				b = append(b, `{"name":"`...)
				b = append(b, t.Name...)
				b = append(b, `","value":"`...)
				b = append(b, t.Value...)
				b = append(b, '"', '}')
				continue
			}
			b = ocsfAppendStrP(b, `{"name":"`, t.Name, t.NamePlain)
			if t.HasValue {
				b = ocsfAppendStrP(b, `,"value":"`, t.Value, t.ValuePlain)
			} else {
				b = ocsfAppendStrs(b, `,"values":`, t.Values)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, '}')

	if e := ev.SrcEndpoint; e != nil && e.IP != "" {
		b = ocsfAppendStrP(b, `,"src_endpoint":{"ip":"`, e.IP, pl&evSrcIP != 0)
		b = ocsfAppendOptStr(b, `,"hostname":`, e.Hostname)
		b = ocsfAppendOptInt(b, `,"port":`, e.Port)
		if e.Country != "" {
			b = ocsfAppendStrP(b, `,"location":{"country":"`, e.Country, pl&evCountry != 0)
			b = append(b, '}')
		}
		b = append(b, '}')
	} else if e != nil {
		b = append(b, `,"src_endpoint":`...)
		n := len(b)
		b = ocsfAppendOptStr(b, `,"hostname":`, e.Hostname)
		b = ocsfAppendOptInt(b, `,"port":`, e.Port)
		if e.Country != "" {
			b = ocsfAppendStrP(b, `,"location":{"country":"`, e.Country, pl&evCountry != 0)
			b = append(b, '}')
		}
		b = ocsfOpen(b, n)
		b = append(b, '}')
	}
	if e := ev.DstEndpoint; e != nil && e.IP == "" && e.Hostname != "" {
		b = ocsfAppendStrP(b, `,"dst_endpoint":{"hostname":"`, e.Hostname, pl&evDstHost != 0)
		b = ocsfAppendOptInt(b, `,"port":`, e.Port)
		if e.Country != "" {
			b = ocsfAppendStr(b, `,"location":{"country":`, e.Country)
			b = append(b, '}')
		}
		b = append(b, '}')
	} else if e != nil {
		b = append(b, `,"dst_endpoint":`...)
		n := len(b)
		b = ocsfAppendOptStr(b, `,"ip":`, e.IP)
		b = ocsfAppendOptStrP(b, `,"hostname":"`, e.Hostname, pl&evDstHost != 0)
		b = ocsfAppendOptInt(b, `,"port":`, e.Port)
		if e.Country != "" {
			b = ocsfAppendStr(b, `,"location":{"country":`, e.Country)
			b = append(b, '}')
		}
		b = ocsfOpen(b, n)
		b = append(b, '}')
	}
	if r := ev.HTTPRequest; r != nil {
		n := -1 // when the first member is uid: the object is opened with it
		if r.UID != "" {
			b = ocsfAppendStrP(b, `,"http_request":{"uid":"`, r.UID, pl&evUID != 0)
		} else {
			b = append(b, `,"http_request":`...)
			n = len(b)
		}
		b = ocsfAppendOptStrP(b, `,"http_method":"`, r.HTTPMethod, pl&evMethod != 0)
		if u := r.URL; u != nil {
			nu := -1
			if u.URLString != "" {
				b = ocsfAppendStrP(b, `,"url":{"url_string":"`, u.URLString, pl&evURLString != 0)
			} else {
				b = append(b, `,"url":`...)
				nu = len(b)
			}
			b = ocsfAppendOptStrP(b, `,"scheme":"`, u.Scheme, pl&evScheme != 0)
			b = ocsfAppendOptStrP(b, `,"hostname":"`, u.Hostname, pl&evURLHost != 0)
			b = ocsfAppendOptInt(b, `,"port":`, u.Port)
			b = ocsfAppendOptStrP(b, `,"path":"`, u.Path, pl&evPath != 0)
			b = ocsfAppendOptStrP(b, `,"query_string":"`, u.QueryString, pl&evQuery != 0)
			if nu >= 0 {
				b = ocsfOpen(b, nu)
			}
			b = append(b, '}')
		}
		b = ocsfAppendOptStrP(b, `,"version":"`, r.Version, pl&evVersion != 0)
		if n >= 0 {
			b = ocsfOpen(b, n)
		}
		b = append(b, '}')
	}
	if r := ev.HTTPResponse; r != nil {
		b = append(b, `,"http_response":{"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
		b = append(b, '}')
	}
	if r := ev.FirewallRule; r != nil {
		b = ocsfAppendStrP(b, `,"firewall_rule":{"uid":"`, r.UID, pl&evRule != 0)
		b = ocsfAppendStrP(b, `,"name":"`, r.Name, pl&evRuleName != 0)
		b = ocsfAppendStrP(b, `,"condition":"`, r.Condition, pl&evRule != 0)
		if r.HasMatchDetails {
			b = ocsfAppendStrsP(b, `,"match_details":`, r.MatchDetails, r.MatchDetailsPlain)
		}
		b = ocsfAppendOptStrP(b, `,"match_location":"`, r.MatchLocation, pl&evMatchLoc != 0)
		b = append(b, '}')
	}
	if len(ev.Attacks) == 1 && ocsfAttacksFrag(ev.Attacks[0]) != nil {
		b = append(b, ocsfAttacksFrag(ev.Attacks[0])...)
	} else if len(ev.Attacks) > 0 {
		b = append(b, `,"attacks":[`...)
	attacks:
		for i := range ev.Attacks {
			a := &ev.Attacks[i]
			if i > 0 {
				b = append(b, ',')
			}
			for _, f := range ocsfAttackFrags {
				if *a == f.attack {
					b = append(b, f.frag...)
					continue attacks
				}
			}
			b = ocsfAppendAttack(b, a)
		}
		b = append(b, ']')
	}
	if len(ev.Enrichments) > 0 {
		for i := range ev.Enrichments {
			e := &ev.Enrichments[i]
			switch {
			case i == 0 && e.Name == ocsfEnrichmentName:
				b = append(b, `,"enrichments":[{"name":"`+ocsfEnrichmentName+`"`...)
			case i == 0:
				b = ocsfAppendStr(b, `,"enrichments":[{"name":`, e.Name)
			case e.Name == ocsfEnrichmentName:
				b = append(b, `,{"name":"`+ocsfEnrichmentName+`"`...)
			default:
				b = ocsfAppendStr(b, `,{"name":`, e.Name)
			}
			b = ocsfAppendStrP(b, `,"value":"`, e.Value, pl&evSrcIP != 0 && ev.SrcEndpoint != nil && e.Value == ev.SrcEndpoint.IP)
			if e.Type == ocsfEnrichmentType && e.Provider == ocsfVendorName && e.ShortDesc == ocsfEnrichmentDesc {
				b = append(b, ocsfEnrichmentFrag...)
			} else {
				b = ocsfAppendStr(b, `,"type":`, e.Type)
				b = ocsfAppendStr(b, `,"provider":`, e.Provider)
				b = ocsfAppendStr(b, `,"short_desc":`, e.ShortDesc)
				b = append(b, `,"data":`...)
			}
			b = ocsfAppendFields(b, e.Data)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = ocsfAppendOptStr(b, `,"raw_data":`, ev.RawData)
	if len(ev.Unmapped) > 0 {
		b = ocsfAppendFields(append(b, `,"unmapped":`...), ev.Unmapped)
	}
	return append(b, '}')
}

func (t *ocsfMitre) appendJSON(b []byte, prefix string) []byte {
	if t == nil {
		return b
	}
	b = ocsfAppendStr(append(b, prefix...), `{"uid":`, t.UID)
	b = ocsfAppendStr(b, `,"name":`, t.Name)
	return append(b, '}')
}

// ocsfOpen opens the object whose members (each written with a leading
// comma) start at b[n]: the first comma becomes the '{', or '{' is added
// when there is no member. The same bytes as writing '{' before n and
// dropping the comma after it (ocsfDropComma), without moving the members.
func ocsfOpen(b []byte, n int) []byte {
	if len(b) > n && b[n] == ',' {
		b[n] = '{'
		return b
	}
	return append(b, '{')
}

// ocsfDropComma removes the comma of the first member written after offset n.
func ocsfDropComma(b []byte, n int) []byte {
	if len(b) > n && b[n] == ',' {
		copy(b[n:], b[n+1:])
		b = b[:len(b)-1]
	}
	return b
}

func ocsfAppendStr(b []byte, prefix, s string) []byte {
	return ocsfAppendString(append(b, prefix...), s)
}

// ocsfAppendStrP is ocsfAppendStr, without a look at s when it is known to
// be plain text (ocsfEvent.Plain).
//
// prefixQ ends with the string's opening quote.
func ocsfAppendStrP(b []byte, prefixQ, s string, plain bool) []byte {
	if !plain {
		return ocsfAppendStrQ(b, prefixQ, s)
	}
	b = append(b, prefixQ...)
	return append(append(b, s...), '"')
}

// ocsfAppendStrQ is ocsfAppendStr of prefixQ without its last byte (the
// string's opening quote, which ocsfAppendString writes).
func ocsfAppendStrQ(b []byte, prefixQ, s string) []byte {
	return ocsfAppendStr(b, prefixQ[:len(prefixQ)-1], s)
}

func ocsfAppendOptStrP(b []byte, prefixQ, s string, plain bool) []byte {
	if s == "" {
		return b
	}
	return ocsfAppendStrP(b, prefixQ, s, plain)
}

func ocsfAppendOptStr(b []byte, prefix, s string) []byte {
	if s == "" {
		return b
	}
	return ocsfAppendStr(b, prefix, s)
}

func ocsfAppendOptInt(b []byte, prefix string, n int) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, prefix...), int64(n), 10)
}

func ocsfAppendStrs(b []byte, prefix string, ss []string) []byte {
	b = append(b, prefix...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = ocsfAppendString(b, s)
	}
	return append(b, ']')
}

// ocsfAppendStrsP is ocsfAppendStrs of ss where the elements with their bit
// (of the first 64) set in plain are plain text.
func ocsfAppendStrsP(b []byte, prefix string, ss []string, plain uint64) []byte {
	b = append(b, prefix...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		if i < 64 && plain&(1<<i) != 0 {
			b = append(append(append(b, '"'), s...), '"')
		} else {
			b = ocsfAppendString(b, s)
		}
	}
	return append(b, ']')
}

// ocsfAppendFields writes an object of raw values (keys already sorted, unique).
func ocsfAppendFields(b []byte, fs []ocsfRawField) []byte {
	b = append(b, '{')
	for i := range fs {
		f := &fs[i]
		if i > 0 {
			b = append(b, ',')
		}
		if f.keyPlain {
			b = append(b, '"')
			b = append(b, f.key...)
			b = append(b, '"', ':')
		} else {
			b = ocsfAppendString(b, f.key)
			b = append(b, ':')
		}
		if f.valPlain {
			b = append(b, f.val...) // a plain string token: compact
		} else {
			b = ocsfAppendCompact(b, f.val)
		}
	}
	return append(b, '}')
}

const ocsfHexDigits = "0123456789abcdef"

// ocsfASCIIPlain marks the ASCII bytes a JSON string holds as they are
// (ocsfAppendString): all but '"', '\\' and the controls below 0x20.
var ocsfASCIIPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// ocsfAppendString writes s as a JSON string the way encoding/json does with
// SetEscapeHTML(false): invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are
// escaped, and so are control characters.
func ocsfAppendString(b []byte, s string) []byte {
	b = append(b, '"')
	i := jsonscan.PlainASCII(s)
	if i == len(s) { // the common case: nothing to escape or check
		b = append(b, s...)
		return append(b, '"')
	}
	// From the first byte to look at, one byte at a time: the strings that
	// get here are short or full of escapes (a JSON text as a string).
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if ocsfASCIIPlain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', ocsfHexDigits[c>>4], ocsfHexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', ocsfHexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ocsfIsCompact: raw has no whitespace (outside or inside strings) and is
// valid UTF-8, so ocsfAppendCompact would copy it as it is.
func ocsfIsCompact(raw []byte) bool {
	for i, c := range raw {
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return false
		case c >= utf8.RuneSelf:
			return bytes.IndexAny(raw[i:], " \t\r\n") < 0 && utf8.Valid(raw[i:])
		}
	}
	return true
}

// ocsfAppendCompact writes a raw JSON value (valid) without insignificant
// whitespace; invalid UTF-8 inside strings becomes U+FFFD, so the output is
// valid UTF-8 whatever the input was.
func ocsfAppendCompact(b, raw []byte) []byte {
	if ocsfIsCompact(raw) {
		return append(b, raw...)
	}
	inStr := false
	for i := 0; i < len(raw); {
		c := raw[i]
		if inStr {
			switch {
			case c == '\\' && i+1 < len(raw):
				b = append(b, c, raw[i+1])
				i += 2
				continue
			case c == '"':
				inStr = false
			case c >= utf8.RuneSelf:
				r, size := utf8.DecodeRune(raw[i:])
				if r == utf8.RuneError && size == 1 {
					b = append(b, `\ufffd`...)
				} else {
					b = append(b, raw[i:i+size]...)
				}
				i += size
				continue
			}
			b = append(b, c)
			i++
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		case '"':
			inStr = true
		}
		b = append(b, c)
		i++
	}
	return b
}
