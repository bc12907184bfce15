package encoders

// Mapping a hit to an OCSF event (README.md, section OCSF, holds the table).

import (
	"bytes"
	"math/bits"
	"net"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// ocsfHitFields are the raw values of the hit's known fields (nil when absent;
// the last occurrence of a duplicate key wins, as with encoding/json) and the
// other members in input order.
//
// The known fields are kept as offsets into the value (get gives the raw
// value): no pointers to reset (and to pay GC write barriers for) per record.
type ocsfHitFields struct {
	val     []byte // the record's value
	pos     [ocsfHitNFields]struct{ start, end int }
	present ocsfHitBits // the known fields the hit has
	extra   []ocsfRawField
	plain   ocsfHitBits // the known fields whose value is a plain string (ocsfSkipStr)
}

// get is the raw value of the known field f, nil when the hit has none.
func (h *ocsfHitFields) get(f ocsfHitBits) []byte {
	if h.present&f == 0 {
		return nil
	}
	p := &h.pos[bits.TrailingZeros32(uint32(f))]
	return h.val[p.start:p.end]
}

// ocsfHitBits is a set of the hit's known fields.
type ocsfHitBits uint32

const (
	hfTime ocsfHitBits = 1 << iota
	hfRequestID
	hfIP
	hfDatacenter
	hfTor
	hfRemoteCountry
	hfDomain
	hfMethod
	hfURI
	hfProtocol
	hfStatusCode
	hfAttackType
	hfBlockStatus
	hfPayload
	hfPoint
	hfTags

	ocsfHitNFields = iota
)

// nonEmptyString is ocsfNonEmptyString of the known field raw (bit f): a
// plain string is viewed without another look at its bytes.
func (h *ocsfHitFields) nonEmptyString(raw []byte, f ocsfHitBits) (string, bool) {
	if h.plain&f != 0 {
		s := ocsfView(raw[1 : len(raw)-1])
		return s, s != ""
	}
	return ocsfNonEmptyString(raw)
}

// ocsfMapper holds the scratch space of one writer.
type ocsfMapper struct {
	h        ocsfHitFields
	unmapped []ocsfRawField
	tagsRaw  []ocsfRawField
	// tagsScanned: scanHit read the members of the hit's tags (its last
	// tags member) into tagsRaw.
	tagsScanned bool
	// keyOrder, tagOrder: the keys of the last hits and of their tags, by
	// place (ocsf_keys.go).
	keyOrder, tagOrder ocsfKeyOrder
	list               [][]byte
	tags               []ocsfKeyVals
	enrData            [2]ocsfRawField

	ev   ocsfEvent
	src  ocsfEndpoint
	dst  ocsfEndpoint
	req  ocsfHTTPRequest
	url  ocsfURL
	resp ocsfHTTPResponse
	rule ocsfFirewallRule
	attk [1]ocsfAttack
	enr  [1]ocsfEnrichment

	// arena holds the text the mapping makes (message, url_string, compact
	// JSON) for the record being written; strings view into it (see
	// ocsfView). It is reset per record: a string made for one record is
	// dead once that record is written. When an append moves it, the strings
	// made before keep the old array alive, which is never written again.
	arena []byte
	strs  []string // backing of match_details and tag values

	topic ocsfTopicFrags // of the last record's topic
}

// ocsfView is b as a string without a copy. b must not be modified while the
// string is used: it is part of the record's value (never modified), a key
// Unquote allocated, or text in the mapper's arena (written once per record).
func ocsfView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// compactText is ocsfCompactText: a view of raw when it is already compact
// and valid UTF-8, else the compact text made in the arena.
func (m *ocsfMapper) compactText(raw []byte) string {
	if ocsfIsCompact(raw) {
		return ocsfView(raw)
	}
	n := len(m.arena)
	m.arena = ocsfAppendCompact(m.arena, raw)
	return ocsfView(m.arena[n:])
}

// textOf is ocsfTextOf with compactText and stringOf.
func (m *ocsfMapper) textOf(raw []byte) string {
	if jsonscan.Kind(raw) == '"' {
		return m.stringOf(raw)
	}
	return m.compactText(raw)
}

// stringOf is jsonscan.StringView of a string token, decoded into the arena
// when it has escapes.
func (m *ocsfMapper) stringOf(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		in := raw[1 : len(raw)-1]
		if bytes.IndexByte(in, '\\') < 0 {
			return ocsfView(in)
		}
		n := len(m.arena)
		if b, ok := ocsfUnescape(m.arena, raw); ok {
			m.arena = b
			return ocsfView(m.arena[n:])
		}
	}
	return jsonscan.StringView(raw)
}

// newStrs returns a slice of n strings from the mapper's reused backing.
func (m *ocsfMapper) newStrs(n int) []string {
	k := len(m.strs)
	if cap(m.strs)-k < n {
		m.strs = make([]string, 0, 2*cap(m.strs)+n) // the old backing stays with its users
		k = 0
	}
	m.strs = m.strs[:k+n]
	return m.strs[k : k+n : k+n]
}

// mapHit maps one hit. It never fails: what has no place in the class goes to
// unmapped, and a value that is not a JSON object becomes raw_data.
func (m *ocsfMapper) mapHit(rec Record) *ocsfEvent {
	m.ev = ocsfEvent{Time: rec.TimeMillis}
	ev := &m.ev
	if cap(m.arena) > 1<<20 {
		m.arena = nil // do not keep what a huge hit made huge (as ocsfWriter.buf)
	}
	m.arena = m.arena[:0]
	clear(m.strs)
	if cap(m.strs) > 1<<12 {
		m.strs = nil
	}
	m.strs = m.strs[:0]
	m.setMetadata(ev, rec)
	m.req = ocsfHTTPRequest{}
	ev.HTTPRequest = &m.req // always present: the class needs http_request or http_response
	m.unmapped = m.unmapped[:0]

	// rec.Value is valid JSON (the Record contract: hits.Decode checked it).
	if !m.scanHit(rec.Value) {
		m.setClass(ev, 0, "Unknown")
		ev.SeverityID = ocsfUnknownAttackSeverity
		ev.Action, ev.Disposition = "Unknown", "Unknown"
		ev.RawData = string(rec.Value)
		return ev
	}
	h := &m.h

	// time: the original as text (time itself is rec.TimeMillis).
	if raw := h.get(hfTime); raw != nil {
		switch jsonscan.Kind(raw) {
		case '"':
			if h.plain&hfTime != 0 {
				ev.Metadata.OriginalTime = ocsfView(raw[1 : len(raw)-1])
				ev.Plain |= evOrigTime
			} else {
				ev.Metadata.OriginalTime = ocsfStringView(raw)
			}
		case '0':
			// a view of the record's value, which is never modified
			ev.Metadata.OriginalTime = ocsfView(raw)
			if ocsfPlainText(raw) { // short: a number
				ev.Plain |= evOrigTime
			}
		}
		if ev.Metadata.OriginalTime == "" {
			m.unmap("time", raw)
		}
	}

	// request_id
	if raw := h.get(hfRequestID); raw != nil {
		if s, ok := h.nonEmptyString(raw, hfRequestID); ok {
			m.req.UID = s
			ev.Metadata.UID = s
			if h.plain&hfRequestID != 0 {
				ev.Plain |= evUID
			}
		} else {
			m.unmap("request_id", raw)
		}
	}

	// method -> http_method, activity
	activityID, activityName := 0, "Unknown"
	if raw := h.get(hfMethod); raw != nil {
		s, isStr := h.nonEmptyString(raw, hfMethod)
		if a, known := ocsfActivities[s]; isStr && known {
			activityID, activityName = a.id, a.name
			m.req.HTTPMethod = s
			ev.Plain |= evMethod // one of ocsfActivities
		} else {
			if isStr {
				activityID, activityName = 99, s // OCSF: for Other, the name is the source's
			}
			m.unmap("method", raw)
		}
	}
	m.setClass(ev, activityID, activityName)

	m.mapSource(ev) // ip, datacenter, tor, remote_country
	m.mapTarget(ev) // domain, uri

	// protocol -> http_request.version
	if raw := h.get(hfProtocol); raw != nil {
		if v, ok := ocsfHTTPVersion(raw); ok {
			m.req.Version = v
			ev.Plain |= evVersion // one of ocsfHTTPVersion's list
		} else {
			m.unmap("protocol", raw)
		}
	}

	// status_code -> http_response.code
	if raw := h.get(hfStatusCode); raw != nil {
		if code, ok := ocsfStatusCode(raw); ok {
			m.resp = ocsfHTTPResponse{Code: code}
			ev.HTTPResponse = &m.resp
		} else {
			m.unmap("status_code", raw)
		}
	}

	// attack_type, payload, point -> firewall_rule, attacks; severity
	base := ocsfUnknownAttackSeverity
	if raw := h.get(hfAttackType); raw != nil {
		if s, ok := h.nonEmptyString(raw, hfAttackType); ok {
			m.rule = ocsfFirewallRule{UID: s, Name: s, Condition: s}
			if h.plain&hfAttackType != 0 {
				ev.Plain |= evRule | evRuleName
			}
			if info, known := ocsfAttackTypes[s]; known {
				m.rule.Name = info.name
				ev.Plain |= evRuleName
				base = info.severity
				m.attk[0] = *info.attack
				ev.Attacks = m.attk[:]
			}
			ev.FirewallRule = &m.rule
		} else {
			m.unmap("attack_type", raw)
		}
	}
	m.mapMatch(ev)

	// block_status -> action, disposition
	blocked := false
	ev.ActionID, ev.Action, ev.DispositionID, ev.Disposition = 0, "Unknown", 0, "Unknown"
	if raw := h.get(hfBlockStatus); raw != nil {
		if s, ok := h.nonEmptyString(raw, hfBlockStatus); ok {
			switch s {
			case "blocked":
				ev.ActionID, ev.Action, ev.DispositionID, ev.Disposition = 2, "Denied", 2, "Blocked"
				blocked = true
			case "monitored":
				ev.ActionID, ev.Action, ev.DispositionID, ev.Disposition = 1, "Allowed", 17, "Logged"
			case "passed":
				ev.ActionID, ev.Action, ev.DispositionID, ev.Disposition = 1, "Allowed", 1, "Allowed"
			default:
				// OCSF's rule for Other: the sibling carries the source's value.
				ev.ActionID, ev.Action, ev.DispositionID, ev.Disposition = 99, s, 99, s
			}
		} else {
			m.unmap("block_status", raw)
		}
	}
	ev.SeverityID = ocsfSeverity(base, blocked)
	ev.IsAlert = ev.SeverityID >= 4
	n := len(m.arena)
	m.arena = ocsfAppendMessage(m.arena, ev)
	ev.Message = ocsfView(m.arena[n:])
	if m.messagePlain(ev) {
		ev.Plain |= evMessage
	}

	// tags -> metadata.tags
	if raw := h.get(hfTags); raw != nil && !m.mapTags(ev, raw) {
		m.unmap("tags", raw)
	}

	// application_id and the fields the mapping does not know: unmapped.
	m.unmapped = append(m.unmapped, h.extra...)
	if len(m.unmapped) > 0 {
		ev.Unmapped = ocsfSortFields(m.unmapped)
	}
	return ev
}

// messagePlain: the message (ocsfAppendMessage) is made of plain text
// only: the rule's name, the disposition, the method and the path (cut with
// "…", which needs no escape either).
func (m *ocsfMapper) messagePlain(ev *ocsfEvent) bool {
	if r := ev.FirewallRule; r != nil && r.Name != "" && ev.Plain&evRuleName == 0 {
		return false
	}
	if ev.DispositionID == 99 && m.h.plain&hfBlockStatus == 0 {
		return false // the disposition is block_status's text
	}
	if ev.ActivityID == 99 && m.h.plain&hfMethod == 0 {
		return false // the method is not one OCSF lists: its text
	}
	if r := ev.HTTPRequest; r != nil && r.URL != nil && r.URL.Path != "" && ev.Plain&evPath == 0 {
		return false
	}
	return true
}

func (m *ocsfMapper) unmap(key string, raw []byte) {
	m.unmapped = append(m.unmapped, ocsfRawField{key: key, val: raw, keyPlain: true}) // key: a constant
}

// scanHit splits the hit (valid JSON) into its fields; false when it is not
// an object.
func (m *ocsfMapper) scanHit(b []byte) bool {
	h := &m.h
	extra := h.extra[:0]
	*h = ocsfHitFields{val: b, extra: extra}
	if m.scanHitFast(b) {
		return true
	}
	// Not a well-formed object: as before, nothing known plain.
	*h = ocsfHitFields{val: b, extra: extra}
	m.tagsScanned = false
	ok := jsonscan.EachMember(b, func(key, val []byte) { h.set(key, val, false, false) })
	h.plain = 0
	return ok
}

// scanHitFast is scanHit on a well-formed object (ocsfEachMemberP, written
// out), reading the members of tags in the same pass (m.tagsRaw); false on
// anything else, possibly after setting some fields.
func (m *ocsfMapper) scanHitFast(raw []byte) bool {
	h := &m.h
	m.tagsScanned = false
	i := jsonscan.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for k := 0; i < len(raw) && raw[i] == '"'; k++ {
		var key []byte
		var field ocsfHitBits
		keyPlain := true
		if kl, ok := m.keyOrder.at(raw, i, k); ok {
			key, field = raw[i+1:i+len(kl.lit)-2], kl.field
			i += len(kl.lit)
		} else {
			end, plain := ocsfSkipStr(raw, i)
			if end < 0 {
				return false
			}
			key, keyPlain = raw[i+1:end-1], plain
			if !keyPlain && bytes.IndexByte(key, '\\') >= 0 {
				key, _ = jsonscan.Unquote(raw[i:end])
			}
			field = ocsfFieldOf(key)
			if keyPlain && end < len(raw) && raw[end] == ':' {
				m.keyOrder.learn(k, raw[i:end+1], field)
			}
			i = end
			if i < len(raw) && ocsfSpace(raw[i]) {
				i = jsonscan.SkipSpace(raw, i)
			}
			if i >= len(raw) || raw[i] != ':' {
				return false
			}
			i++
		}
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		var vend int
		valPlain := false
		if field == hfTags && i < len(raw) && raw[i] == '{' {
			var ok bool
			if vend, ok = m.scanTags(raw, i); !ok {
				vend = jsonscan.SkipValue(raw, i)
			}
			m.tagsScanned = ok
		} else {
			if field == hfTags {
				m.tagsScanned = false // a later tags member wins
			}
			if i < len(raw) && raw[i] == '"' { // ocsfSkipValue, one call less
				vend, valPlain = ocsfSkipStr(raw, i)
			} else {
				vend = jsonscan.SkipValue(raw, i)
			}
		}
		if vend < 0 {
			return false
		}
		h.setField(field, key, raw[i:vend], keyPlain, valPlain)
		i = vend
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		if i < len(raw) && raw[i] == ',' {
			i++
			if i < len(raw) && ocsfSpace(raw[i]) {
				i = jsonscan.SkipSpace(raw, i)
			}
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

// scanTags reads the members of the object at raw[i] ('{') into m.tagsRaw,
// as mapTags would from the value, and returns the index after it. ok false
// (then nothing is said) unless the object is well formed and its scalar
// values hold none of '"', '{' or '[', so that the end is where
// jsonscan.SkipValue ends it, whatever the input.
func (m *ocsfMapper) scanTags(raw []byte, i int) (end int, ok bool) {
	m.tagsRaw = m.tagsRaw[:0]
	i = jsonscan.SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	for k := 0; i < len(raw) && raw[i] == '"'; k++ {
		var key []byte
		keyPlain := true
		if kl, ok := m.tagOrder.at(raw, i, k); ok {
			key = raw[i+1 : i+len(kl.lit)-2]
			i += len(kl.lit)
		} else {
			end, plain := ocsfSkipStr(raw, i)
			if end < 0 {
				return -1, false
			}
			key, keyPlain = raw[i+1:end-1], plain
			if !keyPlain && bytes.IndexByte(key, '\\') >= 0 {
				key, _ = jsonscan.Unquote(raw[i:end])
			}
			if keyPlain && end < len(raw) && raw[end] == ':' {
				m.tagOrder.learn(k, raw[i:end+1], 0)
			}
			i = end
			if i < len(raw) && ocsfSpace(raw[i]) {
				i = jsonscan.SkipSpace(raw, i)
			}
			if i >= len(raw) || raw[i] != ':' {
				return -1, false
			}
			i++
		}
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		var vend int
		valPlain := false
		if i < len(raw) && raw[i] == '"' { // ocsfSkipValue, one call less
			vend, valPlain = ocsfSkipStr(raw, i)
		} else {
			vend = jsonscan.SkipValue(raw, i)
		}
		if vend < 0 {
			return -1, false
		}
		if c := raw[i]; c != '"' && c != '{' && c != '[' && ocsfHasOpener(raw[i:vend]) {
			return -1, false // not JSON: let SkipValue find the end
		}
		m.tagsRaw = append(m.tagsRaw, ocsfRawField{key: ocsfView(key), val: raw[i:vend], keyPlain: keyPlain, valPlain: valPlain})
		i = vend
		if i < len(raw) && ocsfSpace(raw[i]) {
			i = jsonscan.SkipSpace(raw, i)
		}
		if i < len(raw) && raw[i] == ',' {
			i++
			if i < len(raw) && ocsfSpace(raw[i]) {
				i = jsonscan.SkipSpace(raw, i)
			}
			continue
		}
		if i < len(raw) && raw[i] == '}' {
			return i + 1, true
		}
		return -1, false
	}
	return -1, false
}

// ocsfHasOpener: b holds '"', '{' or '['.
func ocsfHasOpener(b []byte) bool {
	for _, c := range b {
		if c == '"' || c == '{' || c == '[' {
			return true
		}
	}
	return false
}

// set notes the member key: val of the hit (the last one of a duplicate
// key wins).
func (h *ocsfHitFields) set(key, val []byte, keyPlain, valPlain bool) {
	h.setField(ocsfFieldOf(key), key, val, keyPlain, valPlain)
}

// setField is set of the known field f of key (0: not a known field). val is
// a part of h.val.
func (h *ocsfHitFields) setField(f ocsfHitBits, key, val []byte, keyPlain, valPlain bool) {
	if f == 0 {
		h.extra = append(h.extra, ocsfRawField{key: ocsfView(key), val: val, keyPlain: keyPlain, valPlain: valPlain})
		return
	}
	start := cap(h.val) - cap(val) // val = h.val[start:start+len(val)]
	h.pos[bits.TrailingZeros32(uint32(f))] = struct{ start, end int }{start, start + len(val)}
	h.present |= f
	if valPlain {
		h.plain |= f
	} else {
		h.plain &^= f
	}
}

// ocsfTypeNames are the captions of type_uid by activity_id 0..9 (99 is
// ocsfTypeNameOther).
var ocsfTypeNames = [10]string{
	0: "HTTP Activity: Unknown", 1: "HTTP Activity: Connect", 2: "HTTP Activity: Delete",
	3: "HTTP Activity: Get", 4: "HTTP Activity: Head", 5: "HTTP Activity: Options",
	6: "HTTP Activity: Post", 7: "HTTP Activity: Put", 8: "HTTP Activity: Trace",
	9: "HTTP Activity: Patch",
}

const ocsfTypeNameOther = "HTTP Activity: Other"

// ocsfActivityNames are the names of activity_id 0..9 (ocsfActivities).
var ocsfActivityNames = func() (names [10]string) {
	names[0] = "Unknown"
	for _, a := range ocsfActivities {
		names[a.id] = a.name
	}
	return names
}()

func (m *ocsfMapper) setClass(ev *ocsfEvent, activityID int, activityName string) {
	ev.ActivityID = activityID
	ev.ActivityName = activityName
	switch {
	case activityID >= 0 && activityID < len(ocsfTypeNames):
		ev.TypeName = ocsfTypeNames[activityID]
	case activityID == 99:
		ev.TypeName = ocsfTypeNameOther
	default:
		ev.TypeName = ""
	}
}

// setMetadata notes the Kafka location: metadata.original_event_uid is
// topic/partition/offset, the record the event was made from (the same on
// every replay).
func (m *ocsfMapper) setMetadata(ev *ocsfEvent, rec Record) {
	ev.Metadata.Topic, ev.Metadata.Partition, ev.Metadata.Offset = rec.Topic, rec.Partition, rec.Offset
	if rec.Topic == "" {
		return
	}
	if t := &m.topic; rec.Topic != t.topic || t.uid == nil {
		// one topic per writer, as a rule
		t.topic = rec.Topic
		t.uid = ocsfAppendStr(t.uid[:0], `,"original_event_uid":`, rec.Topic)
		t.uid = append(t.uid[:len(t.uid)-1], '/') // inside the string: topic/partition/offset
		t.log = ocsfAppendStr(t.log[:0], `,"log_provider":"Kafka","log_name":`, rec.Topic)
	}
	ev.topic = &m.topic
}

func (m *ocsfMapper) mapSource(ev *ocsfEvent) {
	h := &m.h
	ip, ipOK := "", false
	if h.get(hfIP) != nil {
		if s, ok := h.nonEmptyString(h.get(hfIP), hfIP); ok && ocsfValidIP(s) {
			ip, ipOK = s, true
		} else {
			m.unmap("ip", h.get(hfIP))
		}
	}
	// Without a source endpoint (its ip) there is nothing to attach the
	// country or the enrichment to: those then go to unmapped.
	if ipOK {
		m.src = ocsfEndpoint{IP: ip}
		ev.SrcEndpoint = &m.src
		if h.plain&hfIP != 0 {
			ev.Plain |= evSrcIP
		}
	}
	if raw := h.get(hfRemoteCountry); raw != nil {
		if s, isStr := h.nonEmptyString(raw, hfRemoteCountry); isStr && ipOK {
			m.src.Country = s
			if h.plain&hfRemoteCountry != 0 {
				ev.Plain |= evCountry
			}
		} else {
			m.unmap("remote_country", raw)
		}
	}
	if h.get(hfDatacenter) == nil && h.get(hfTor) == nil {
		return
	}
	if !ipOK {
		if h.get(hfDatacenter) != nil {
			m.unmap("datacenter", h.get(hfDatacenter))
		}
		if h.get(hfTor) != nil {
			m.unmap("tor", h.get(hfTor))
		}
		return
	}
	data := m.enrData[:0]
	if h.get(hfDatacenter) != nil {
		data = append(data, ocsfRawField{key: "datacenter", val: h.get(hfDatacenter), keyPlain: true, valPlain: h.plain&hfDatacenter != 0})
	}
	if h.get(hfTor) != nil {
		data = append(data, ocsfRawField{key: "tor", val: h.get(hfTor), keyPlain: true, valPlain: h.plain&hfTor != 0})
	}
	m.enr[0] = ocsfEnrichment{
		Name:      ocsfEnrichmentName,
		Value:     ip,
		Type:      ocsfEnrichmentType,
		Provider:  ocsfVendorName,
		ShortDesc: ocsfEnrichmentDesc,
		Data:      data,
	}
	ev.Enrichments = m.enr[:]
}

// The enrichment of the source endpoint: its constant members, and them
// written out (ocsfEnrichmentFrag, up to the data member's value).
const (
	ocsfEnrichmentName = "src_endpoint.ip" // plain text
	ocsfEnrichmentType = "hit_source"
	ocsfEnrichmentDesc = "Source type of the attacker's IP (datacenter, Tor)"
)

var ocsfEnrichmentFrag = func() []byte {
	b := ocsfAppendStr(nil, `,"type":`, ocsfEnrichmentType)
	b = ocsfAppendStr(b, `,"provider":`, ocsfVendorName)
	b = ocsfAppendStr(b, `,"short_desc":`, ocsfEnrichmentDesc)
	return append(b, `,"data":`...)
}()

func (m *ocsfMapper) mapTarget(ev *ocsfEvent) {
	h := &m.h
	host, port := "", 0
	if raw := h.get(hfDomain); raw != nil {
		if s, ok := h.nonEmptyString(raw, hfDomain); ok {
			host, port = ocsfSplitHostPort(s)
			m.dst = ocsfEndpoint{Hostname: host, Port: port}
			ev.DstEndpoint = &m.dst
			if h.plain&hfDomain != 0 {
				ev.Plain |= evDstHost | evURLHost // url's hostname is host unless it is empty
			}
		} else {
			m.unmap("domain", raw)
		}
	}
	raw := h.get(hfURI)
	if raw == nil {
		return // a url needs a path or a url_string; the host is in dst_endpoint
	}
	uri, ok := h.nonEmptyString(raw, hfURI)
	if !ok {
		m.unmap("uri", raw)
		return
	}
	m.url = ocsfURL{Hostname: host, Port: port}
	uriPlain := h.plain&hfURI != 0
	if uriPlain {
		ev.Plain |= evURLString | evPath | evQuery // all made of uri, or of uri and host below
	}
	rest := uri
	if scheme, after, abs := ocsfCutScheme(uri); abs {
		// absolute-form request target (proxies): the URL names its own host
		m.url.Scheme = scheme
		ev.Plain |= evScheme // letters, digits, '+', '-' and '.'
		m.url.URLString = uri
		authority := after
		if i := strings.IndexAny(after, "/?#"); i >= 0 {
			authority, rest = after[:i], after[i:]
		} else {
			rest = ""
		}
		if m.url.Hostname == "" && authority != "" {
			m.url.Hostname, m.url.Port = ocsfSplitHostPort(authority)
			if uriPlain {
				ev.Plain |= evURLHost
			}
		}
	} else if host != "" && strings.HasPrefix(uri, "/") && !strings.HasPrefix(uri, "//") {
		// origin-form: the scheme is not in the hit, so the URL is given as a
		// network-path reference (RFC 3986 section 4.2)
		n := len(m.arena)
		m.arena = append(m.arena, "//"...)
		if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
			m.arena = append(append(append(m.arena, '['), host...), ']') // an IPv6 literal
		} else {
			m.arena = append(m.arena, host...)
		}
		if port != 0 {
			m.arena = strconv.AppendInt(append(m.arena, ':'), int64(port), 10)
		}
		m.arena = append(m.arena, uri...)
		m.url.URLString = ocsfView(m.arena[n:])
		if h.plain&hfDomain == 0 {
			ev.Plain &^= evURLString // the host is not plain
		}
	}
	rest, _, hasFragment := strings.Cut(rest, "#")
	path, query, hasQuery := strings.Cut(rest, "?")
	m.url.Path = path
	if hasQuery {
		m.url.QueryString = query
	}
	if m.url.URLString == "" && (m.url.Path == "" || hasFragment) {
		// e.g. "?a=1" (OCSF needs path or url_string), or a fragment that
		// path and query_string do not hold
		m.url.URLString = uri
	}
	m.req.URL = &m.url
}

// ocsfCutScheme splits "scheme://rest" (RFC 3986 scheme syntax).
func ocsfCutScheme(s string) (scheme, rest string, ok bool) {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return "", "", false // the loop below would say so, after a search
	}
	i := strings.Index(s, "://")
	if i <= 0 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", "", false
		}
	}
	return strings.ToLower(s[:i]), s[i+3:], true
}

// ocsfSplitHostPort splits "host:port" when the port is a valid one; otherwise the
// whole string is the host. IPv6 literals lose their brackets.
func ocsfSplitHostPort(s string) (string, int) {
	if strings.IndexByte(s, ':') < 0 {
		return s, 0
	}
	if h, p, err := net.SplitHostPort(s); err == nil && h != "" {
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n <= 65535 && p[0] != '+' {
			return h, n
		}
	}
	return s, 0
}

func (m *ocsfMapper) mapMatch(ev *ocsfEvent) {
	h := &m.h
	var details []string
	var detailsPlain uint64
	hasDetails, location := false, ""
	if raw := h.get(hfPayload); raw != nil {
		switch jsonscan.Kind(raw) {
		case '"':
			details, hasDetails = m.newStrs(1), true
			if h.plain&hfPayload != 0 {
				details[0], detailsPlain = ocsfView(raw[1:len(raw)-1]), 1
			} else {
				details[0] = m.stringOf(raw)
			}
		case '[':
			m.list = m.list[:0]
			var plain uint64 // of the first 64 elements
			ocsfEachElementP(raw, func(el []byte, p bool) {
				if p && len(m.list) < 64 {
					plain |= 1 << len(m.list)
				}
				m.list = append(m.list, el)
			})
			details, hasDetails = m.newStrs(len(m.list)), true
			for i, el := range m.list {
				if i < 64 && plain&(1<<i) != 0 {
					details[i] = ocsfView(el[1 : len(el)-1])
				} else {
					details[i] = m.textOf(el)
				}
			}
			detailsPlain = plain
		}
	}
	if raw := h.get(hfPoint); raw != nil {
		switch jsonscan.Kind(raw) {
		case '"':
			location = m.stringOf(raw)
			if h.plain&hfPoint != 0 {
				ev.Plain |= evMatchLoc // (unset below when there is no rule)
			}
		case '[':
			location = m.compactText(raw)
		}
	}
	if ev.FirewallRule == nil || !hasDetails {
		if h.get(hfPayload) != nil {
			m.unmap("payload", h.get(hfPayload)) // no rule to attach it to, or not a list
		}
	}
	if ev.FirewallRule == nil || location == "" {
		if h.get(hfPoint) != nil {
			m.unmap("point", h.get(hfPoint))
		}
	}
	if ev.FirewallRule == nil {
		return
	}
	m.rule.MatchDetails, m.rule.HasMatchDetails, m.rule.MatchDetailsPlain = details, hasDetails, detailsPlain
	m.rule.MatchLocation = location
}

// mapTags turns a JSON object into name/value pairs sorted by name. Strings
// stay as they are; numbers and booleans become their JSON text; arrays of
// scalars become values; anything else (objects, nested or empty arrays,
// null) becomes its compact JSON text. It reports false when tags is not a
// non-empty object.
func (m *ocsfMapper) mapTags(ev *ocsfEvent, raw []byte) bool {
	if jsonscan.Kind(raw) != '{' {
		return false
	}
	if !m.tagsScanned { // else scanHit read them
		m.readTags(raw)
	}
	if len(m.tagsRaw) == 0 {
		return false
	}
	fields := ocsfSortFields(m.tagsRaw)
	m.tags = m.tags[:0]
	for _, f := range fields {
		kv := ocsfKeyVals{Name: f.key, HasValue: true, NamePlain: f.keyPlain}
		switch jsonscan.Kind(f.val) {
		case '"':
			if f.valPlain {
				kv.Value, kv.ValuePlain = ocsfView(f.val[1:len(f.val)-1]), true
			} else {
				kv.Value = m.stringOf(f.val)
			}
		case '0', 't', 'f':
			kv.Value, kv.ValuePlain = ocsfView(f.val), ocsfPlainText(f.val) // short: a number or a literal
		case '[':
			m.list = m.list[:0]
			scalars := true
			jsonscan.EachElement(f.val, func(el []byte) {
				m.list = append(m.list, el)
				switch jsonscan.Kind(el) {
				case '"', '0', 't', 'f':
				default:
					scalars = false
				}
			})
			if scalars && len(m.list) > 0 {
				kv.HasValue = false
				kv.Values = m.newStrs(len(m.list))
				for i, el := range m.list {
					kv.Values[i] = m.textOf(el)
				}
			} else {
				kv.Value = m.compactText(f.val)
			}
		default:
			kv.Value = m.compactText(f.val)
		}
		m.tags = append(m.tags, kv)
	}
	ev.Metadata.Tags = m.tags
	return true
}

// readTags reads the members of the object raw into m.tagsRaw.
func (m *ocsfMapper) readTags(raw []byte) {
	m.tagsRaw = m.tagsRaw[:0]
	member := func(key, val []byte, keyPlain, valPlain bool) {
		m.tagsRaw = append(m.tagsRaw, ocsfRawField{key: ocsfView(key), val: val, keyPlain: keyPlain, valPlain: valPlain})
	}
	if !ocsfEachMemberP(raw, member) {
		m.tagsRaw = m.tagsRaw[:0]
		jsonscan.EachMember(raw, func(key, val []byte) { member(key, val, false, false) })
	}
}

// ocsfSortFields sorts by key and keeps the last of equal keys (input order):
// encoding/json's rule for duplicate keys.
func ocsfSortFields(fs []ocsfRawField) []ocsfRawField {
	if len(fs) < 2 {
		return fs
	}
	sorted := true
	for i := 1; i < len(fs); i++ {
		if fs[i-1].key >= fs[i].key {
			sorted = false
			break
		}
	}
	if sorted {
		return fs // and keys unique
	}
	slices.SortStableFunc(fs, func(a, b ocsfRawField) int { return strings.Compare(a.key, b.key) })
	out := fs[:0]
	for i, f := range fs {
		if i+1 < len(fs) && fs[i+1].key == f.key {
			continue
		}
		out = append(out, f)
	}
	return out
}
