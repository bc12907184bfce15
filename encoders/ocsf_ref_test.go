// Code generated from ocsf.go, ocsf_map.go, ocsf_json.go, ocsf_read.go,
// ocsf_message.go, ocsf_model.go and ocsf_vocab.go at commit 3df9f60 (before the
// encoder was rewritten for speed) by renaming every ocsf identifier to
// refOcsf. It is the reference the new encoder must match byte for byte
// (ocsf_equiv_test.go). Do not edit: it is the old behaviour.

package encoders

import (
	"bytes"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hitexport/hitexport/internal/jsonscan"
)

// ---- ocsf.go

// OCSF output: every hit becomes one OCSF 1.8.0 HTTP Activity event (class_uid
// 4002, category_uid 4) with the security_control profile. README.md (section OCSF) holds
// the mapping table and the rules for severity and block_status; keep it in
// step with this file, and bump refOcsfVersion whenever the bytes written for the
// same input change (the golden files under testdata/ocsf/ tell).
//
// The hit is read with a small scanner over its raw bytes (after json.Valid)
// and the event is written by hand: no reflection, no generic maps, few
// allocations. Object keys in the output are in a fixed order; vendor data
// (unmapped, enrichment data, tags) is sorted by key, so the same input gives
// the same bytes.
//
// Files: ocsf.go (the two formats and their writer), ocsf_model.go (the
// event), ocsf_vocab.go (activities, severities, attack types), ocsf_map.go
// (hit -> event), ocsf_json.go (event -> bytes), ocsf_read.go (reading the
// hit's raw values).

// refOcsfVersion identifies the mapping (see Encoder.Version).
const refOcsfVersion = "ocsf-1.8.0/2"

// OCSF constants of the class used.
const (
	refOcsfSchemaVersion = "1.8.0"
	refOcsfClassUID      = 4002
	refOcsfClassName     = "HTTP Activity"
	refOcsfCategoryUID   = 4
	refOcsfCategoryName  = "Network Activity"
	refOcsfProfile       = "security_control"
	refOcsfProductName   = "Wallarm Node"
	refOcsfVendorName    = "Wallarm"
)

// refOcsfNDJSON is format "ocsf": one OCSF event per line.
type refOcsfNDJSON struct{}

func (refOcsfNDJSON) Format() string      { return "ocsf" }
func (refOcsfNDJSON) Extension() string   { return ".ocsf.ndjson" }
func (refOcsfNDJSON) ContentType() string { return "application/x-ndjson" }
func (refOcsfNDJSON) Version() string     { return refOcsfVersion }
func (refOcsfNDJSON) NewWriter(w io.Writer) RecordWriter {
	return &refOcsfWriter{w: w, array: false}
}

// refOcsfJSON is format "ocsf-json": one JSON array of OCSF events, one element
// per line, laid out like format "json".
type refOcsfJSON struct{}

func (refOcsfJSON) Format() string      { return "ocsf-json" }
func (refOcsfJSON) Extension() string   { return ".ocsf.json" }
func (refOcsfJSON) ContentType() string { return "application/json" }
func (refOcsfJSON) Version() string     { return refOcsfVersion }
func (refOcsfJSON) NewWriter(w io.Writer) RecordWriter {
	return &refOcsfWriter{w: w, array: true}
}

// refOcsfWriter maps and writes records. It keeps its scratch space between
// records, so steady-state encoding allocates little.
type refOcsfWriter struct {
	w     io.Writer
	array bool
	frame arrayFrame // when array
	buf   []byte
	m     refOcsfMapper
}

func (o *refOcsfWriter) Write(rec Record) error {
	b := o.buf[:0]
	if o.array {
		b = o.frame.next(b)
	}
	b = o.m.mapHit(rec).appendJSON(b)
	if !o.array {
		b = append(b, '\n')
	}
	if cap(b) <= 1<<20 {
		o.buf = b // keep the buffer, unless a huge hit made it huge
	}
	_, err := o.w.Write(b)
	return err
}

func (o *refOcsfWriter) Close() error {
	if !o.array {
		return nil
	}
	return o.frame.close(o.w)
}

// ---- ocsf_model.go

// The OCSF event the mapping fills and appendJSON writes (ocsf_json.go), in
// this field order.

type refOcsfEvent struct {
	ActivityID    int
	ActivityName  string
	TypeName      string
	SeverityID    int
	Time          int64
	ActionID      int
	Action        string
	DispositionID int
	Disposition   string
	IsAlert       bool
	Message       string // refOcsfMessage
	Metadata      refOcsfMetadata
	SrcEndpoint   *refOcsfEndpoint
	DstEndpoint   *refOcsfEndpoint
	HTTPRequest   *refOcsfHTTPRequest
	HTTPResponse  *refOcsfHTTPResponse
	FirewallRule  *refOcsfFirewallRule
	Attacks       []refOcsfAttack
	Enrichments   []refOcsfEnrichment
	RawData       string
	Unmapped      []refOcsfRawField // sorted by key, keys unique
}

type refOcsfMetadata struct {
	UID          string // the hit's request_id
	Topic        string // original_event_uid is topic/partition/offset when there is a topic
	Partition    int
	Offset       int64
	OriginalTime string
	Tags         []refOcsfKeyVals
}

type refOcsfKeyVals struct {
	Name     string
	Value    string
	HasValue bool // else Values
	Values   []string
}

type refOcsfEndpoint struct {
	IP       string
	Hostname string
	Port     int
	Country  string // location.country
}

type refOcsfHTTPRequest struct {
	UID        string
	HTTPMethod string
	URL        *refOcsfURL
	Version    string
}

type refOcsfURL struct {
	URLString   string
	Scheme      string
	Hostname    string
	Port        int
	Path        string
	QueryString string
}

type refOcsfHTTPResponse struct {
	Code int
}

type refOcsfFirewallRule struct {
	UID, Name, Condition string
	MatchDetails         []string
	HasMatchDetails      bool
	MatchLocation        string
}

type refOcsfAttack struct {
	Tactic, Technique, SubTechnique *refOcsfMitre
}

type refOcsfMitre struct {
	UID, Name string
}

type refOcsfEnrichment struct {
	Name, Value, Type, Provider, ShortDesc string
	Data                                   []refOcsfRawField // sorted by key
}

// refOcsfRawField is a member of a JSON object: its key and raw (valid JSON) value.
type refOcsfRawField struct {
	key string
	val []byte
}

// ---- ocsf_vocab.go

// Vocabularies of the OCSF mapping: activities, severities, attack types.

// refOcsfActivities: the class's activity enum, keyed by the HTTP method (exact,
// case-sensitive: HTTP methods are).
var refOcsfActivities = map[string]struct {
	id   int
	name string
}{
	"CONNECT": {1, "Connect"},
	"DELETE":  {2, "Delete"},
	"GET":     {3, "Get"},
	"HEAD":    {4, "Head"},
	"OPTIONS": {5, "Options"},
	"POST":    {6, "Post"},
	"PUT":     {7, "Put"},
	"TRACE":   {8, "Trace"},
	"PATCH":   {9, "Patch"},
}

var refOcsfSeverityNames = [...]string{0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}

// refOcsfAttackInfo describes one vendor attack type: its display name, the base
// severity_id and the MITRE ATT&CK mapping.
type refOcsfAttackInfo struct {
	name     string
	severity int
	attack   *refOcsfAttack
}

var (
	refOcsfAttackExploit = &refOcsfAttack{
		Tactic:    &refOcsfMitre{UID: "TA0001", Name: "Initial Access"},
		Technique: &refOcsfMitre{UID: "T1190", Name: "Exploit Public-Facing Application"},
	}
	refOcsfAttackBrute = &refOcsfAttack{
		Tactic:    &refOcsfMitre{UID: "TA0006", Name: "Credential Access"},
		Technique: &refOcsfMitre{UID: "T1110", Name: "Brute Force"},
	}
	refOcsfAttackScanning = &refOcsfAttack{
		Tactic:       &refOcsfMitre{UID: "TA0043", Name: "Reconnaissance"},
		Technique:    &refOcsfMitre{UID: "T1595", Name: "Active Scanning"},
		SubTechnique: &refOcsfMitre{UID: "T1595.002", Name: "Vulnerability Scanning"},
	}
)

// Severity scale: 4 High = the attack can compromise the server or its data;
// 3 Medium = it targets the application's users or sessions; 2 Low =
// reconnaissance. Blocked hits are one level lower (see refOcsfSeverity).
var refOcsfAttackTypes = map[string]refOcsfAttackInfo{
	"sqli":           {"SQL Injection", 4, refOcsfAttackExploit},
	"nosqli":         {"NoSQL Injection", 4, refOcsfAttackExploit},
	"rce":            {"Remote Code Execution", 4, refOcsfAttackExploit},
	"xxe":            {"XML External Entity", 4, refOcsfAttackExploit},
	"ssrf":           {"Server-Side Request Forgery", 4, refOcsfAttackExploit},
	"ptrav":          {"Path Traversal", 4, refOcsfAttackExploit},
	"ldapi":          {"LDAP Injection", 4, refOcsfAttackExploit},
	"ssti":           {"Server-Side Template Injection", 4, refOcsfAttackExploit},
	"vpatch":         {"Virtual Patch", 4, refOcsfAttackExploit},
	"xss":            {"Cross-Site Scripting", 3, refOcsfAttackExploit},
	"crlf":           {"CRLF Injection", 3, refOcsfAttackExploit},
	"redir":          {"Open Redirect", 3, refOcsfAttackExploit},
	"mail_injection": {"Mail Injection", 3, refOcsfAttackExploit},
	"brute":          {"Brute Force", 3, refOcsfAttackBrute},
	"scanner":        {"Scanner", 2, refOcsfAttackScanning},
}

// refOcsfUnknownAttackSeverity is the base severity of an attack type not listed
// above (or missing): a hit is a detected attack, so not below Medium.
const refOcsfUnknownAttackSeverity = 3

// refOcsfSeverity is the severity rule: the attack type's base severity (High 4,
// Medium 3, Low 2; 3 when unknown), one level lower when the request was
// blocked, never below Informational (1).
func refOcsfSeverity(base int, blocked bool) int {
	if blocked {
		base--
	}
	if base < 1 {
		base = 1
	}
	return base
}

// ---- ocsf_map.go

// Mapping a hit to an OCSF event (README.md, section OCSF, holds the table).

// refOcsfHitFields are the raw values of the hit's known fields (nil when absent;
// the last occurrence of a duplicate key wins, as with encoding/json) and the
// other members in input order.
type refOcsfHitFields struct {
	time, requestID, ip, datacenter, tor, remoteCountry, domain, method, uri,
	protocol, statusCode, attackType, blockStatus, payload, point, tags []byte
	extra []refOcsfRawField
}

// refOcsfMapper holds the scratch space of one writer.
type refOcsfMapper struct {
	h        refOcsfHitFields
	unmapped []refOcsfRawField
	tagsRaw  []refOcsfRawField
	list     [][]byte
	tags     []refOcsfKeyVals
	enrData  [2]refOcsfRawField

	ev   refOcsfEvent
	src  refOcsfEndpoint
	dst  refOcsfEndpoint
	req  refOcsfHTTPRequest
	url  refOcsfURL
	resp refOcsfHTTPResponse
	rule refOcsfFirewallRule
	attk [1]refOcsfAttack
	enr  [1]refOcsfEnrichment
}

// mapHit maps one hit. It never fails: what has no place in the class goes to
// unmapped, and a value that is not a JSON object becomes raw_data.
func (m *refOcsfMapper) mapHit(rec Record) *refOcsfEvent {
	m.ev = refOcsfEvent{Time: rec.TimeMillis}
	ev := &m.ev
	m.setMetadata(ev, rec)
	m.req = refOcsfHTTPRequest{}
	ev.HTTPRequest = &m.req // always present: the class needs http_request or http_response
	m.unmapped = m.unmapped[:0]

	// rec.Value is valid JSON (the Record contract: hits.Decode checked it).
	if !m.scanHit(rec.Value) {
		m.setClass(ev, 0, "Unknown")
		ev.SeverityID = refOcsfUnknownAttackSeverity
		ev.Action, ev.Disposition = "Unknown", "Unknown"
		ev.RawData = string(rec.Value)
		return ev
	}
	h := &m.h

	// time: the original as text (time itself is rec.TimeMillis).
	if raw := h.time; raw != nil {
		switch jsonscan.Kind(raw) {
		case '"':
			ev.Metadata.OriginalTime = jsonscan.StringView(raw)
		case '0':
			ev.Metadata.OriginalTime = string(raw)
		}
		if ev.Metadata.OriginalTime == "" {
			m.unmap("time", raw)
		}
	}

	// request_id
	if raw := h.requestID; raw != nil {
		if s, ok := refOcsfNonEmptyString(raw); ok {
			m.req.UID = s
			ev.Metadata.UID = s
		} else {
			m.unmap("request_id", raw)
		}
	}

	// method -> http_method, activity
	activityID, activityName := 0, "Unknown"
	if raw := h.method; raw != nil {
		s, isStr := refOcsfNonEmptyString(raw)
		if a, known := refOcsfActivities[s]; isStr && known {
			activityID, activityName = a.id, a.name
			m.req.HTTPMethod = s
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
	if raw := h.protocol; raw != nil {
		if v, ok := refOcsfHTTPVersion(raw); ok {
			m.req.Version = v
		} else {
			m.unmap("protocol", raw)
		}
	}

	// status_code -> http_response.code
	if raw := h.statusCode; raw != nil {
		if code, ok := refOcsfStatusCode(raw); ok {
			m.resp = refOcsfHTTPResponse{Code: code}
			ev.HTTPResponse = &m.resp
		} else {
			m.unmap("status_code", raw)
		}
	}

	// attack_type, payload, point -> firewall_rule, attacks; severity
	base := refOcsfUnknownAttackSeverity
	if raw := h.attackType; raw != nil {
		if s, ok := refOcsfNonEmptyString(raw); ok {
			m.rule = refOcsfFirewallRule{UID: s, Name: s, Condition: s}
			if info, known := refOcsfAttackTypes[s]; known {
				m.rule.Name = info.name
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
	if raw := h.blockStatus; raw != nil {
		if s, ok := refOcsfNonEmptyString(raw); ok {
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
	ev.SeverityID = refOcsfSeverity(base, blocked)
	ev.IsAlert = ev.SeverityID >= 4
	ev.Message = refOcsfMessage(ev)

	// tags -> metadata.tags
	if raw := h.tags; raw != nil && !m.mapTags(ev, raw) {
		m.unmap("tags", raw)
	}

	// application_id and the fields the mapping does not know: unmapped.
	m.unmapped = append(m.unmapped, h.extra...)
	if len(m.unmapped) > 0 {
		ev.Unmapped = refOcsfSortFields(m.unmapped)
	}
	return ev
}

func (m *refOcsfMapper) unmap(key string, raw []byte) {
	m.unmapped = append(m.unmapped, refOcsfRawField{key, raw})
}

// scanHit splits the hit (valid JSON) into its fields; false when it is not
// an object.
func (m *refOcsfMapper) scanHit(b []byte) bool {
	h := &m.h
	extra := h.extra[:0]
	*h = refOcsfHitFields{}
	ok := jsonscan.EachMember(b, func(key []byte, val []byte) {
		switch string(key) {
		case "time":
			h.time = val
		case "request_id":
			h.requestID = val
		case "ip":
			h.ip = val
		case "datacenter":
			h.datacenter = val
		case "tor":
			h.tor = val
		case "remote_country":
			h.remoteCountry = val
		case "domain":
			h.domain = val
		case "method":
			h.method = val
		case "uri":
			h.uri = val
		case "protocol":
			h.protocol = val
		case "status_code":
			h.statusCode = val
		case "attack_type":
			h.attackType = val
		case "block_status":
			h.blockStatus = val
		case "payload":
			h.payload = val
		case "point":
			h.point = val
		case "tags":
			h.tags = val
		default:
			extra = append(extra, refOcsfRawField{string(key), val})
		}
	})
	h.extra = extra
	return ok
}

// refOcsfTypeNames are the captions of type_uid by activity_id.
var refOcsfTypeNames = map[int]string{
	0: "HTTP Activity: Unknown", 1: "HTTP Activity: Connect", 2: "HTTP Activity: Delete",
	3: "HTTP Activity: Get", 4: "HTTP Activity: Head", 5: "HTTP Activity: Options",
	6: "HTTP Activity: Post", 7: "HTTP Activity: Put", 8: "HTTP Activity: Trace",
	9: "HTTP Activity: Patch", 99: "HTTP Activity: Other",
}

func (m *refOcsfMapper) setClass(ev *refOcsfEvent, activityID int, activityName string) {
	ev.ActivityID = activityID
	ev.ActivityName = activityName
	ev.TypeName = refOcsfTypeNames[activityID]
}

// setMetadata notes the Kafka location: metadata.original_event_uid is
// topic/partition/offset, the record the event was made from (the same on
// every replay).
func (m *refOcsfMapper) setMetadata(ev *refOcsfEvent, rec Record) {
	ev.Metadata.Topic, ev.Metadata.Partition, ev.Metadata.Offset = rec.Topic, rec.Partition, rec.Offset
}

func (m *refOcsfMapper) mapSource(ev *refOcsfEvent) {
	h := &m.h
	ip, ipOK := "", false
	if h.ip != nil {
		if s, ok := refOcsfNonEmptyString(h.ip); ok && refOcsfValidIP(s) {
			ip, ipOK = s, true
		} else {
			m.unmap("ip", h.ip)
		}
	}
	// Without a source endpoint (its ip) there is nothing to attach the
	// country or the enrichment to: those then go to unmapped.
	if ipOK {
		m.src = refOcsfEndpoint{IP: ip}
		ev.SrcEndpoint = &m.src
	}
	if raw := h.remoteCountry; raw != nil {
		if s, isStr := refOcsfNonEmptyString(raw); isStr && ipOK {
			m.src.Country = s
		} else {
			m.unmap("remote_country", raw)
		}
	}
	if h.datacenter == nil && h.tor == nil {
		return
	}
	if !ipOK {
		if h.datacenter != nil {
			m.unmap("datacenter", h.datacenter)
		}
		if h.tor != nil {
			m.unmap("tor", h.tor)
		}
		return
	}
	data := m.enrData[:0]
	if h.datacenter != nil {
		data = append(data, refOcsfRawField{"datacenter", h.datacenter})
	}
	if h.tor != nil {
		data = append(data, refOcsfRawField{"tor", h.tor})
	}
	m.enr[0] = refOcsfEnrichment{
		Name:      "src_endpoint.ip",
		Value:     ip,
		Type:      "hit_source",
		Provider:  refOcsfVendorName,
		ShortDesc: "Source type of the attacker's IP (datacenter, Tor)",
		Data:      data,
	}
	ev.Enrichments = m.enr[:]
}

func (m *refOcsfMapper) mapTarget(ev *refOcsfEvent) {
	h := &m.h
	host, port := "", 0
	if raw := h.domain; raw != nil {
		if s, ok := refOcsfNonEmptyString(raw); ok {
			host, port = refOcsfSplitHostPort(s)
			m.dst = refOcsfEndpoint{Hostname: host, Port: port}
			ev.DstEndpoint = &m.dst
		} else {
			m.unmap("domain", raw)
		}
	}
	raw := h.uri
	if raw == nil {
		return // a url needs a path or a url_string; the host is in dst_endpoint
	}
	uri, ok := refOcsfNonEmptyString(raw)
	if !ok {
		m.unmap("uri", raw)
		return
	}
	m.url = refOcsfURL{Hostname: host, Port: port}
	rest := uri
	if scheme, after, abs := refOcsfCutScheme(uri); abs {
		// absolute-form request target (proxies): the URL names its own host
		m.url.Scheme = scheme
		m.url.URLString = uri
		authority := after
		if i := strings.IndexAny(after, "/?#"); i >= 0 {
			authority, rest = after[:i], after[i:]
		} else {
			rest = ""
		}
		if m.url.Hostname == "" && authority != "" {
			m.url.Hostname, m.url.Port = refOcsfSplitHostPort(authority)
		}
	} else if host != "" && strings.HasPrefix(uri, "/") && !strings.HasPrefix(uri, "//") {
		// origin-form: the scheme is not in the hit, so the URL is given as a
		// network-path reference (RFC 3986 section 4.2)
		m.url.URLString = "//" + refOcsfHostForURL(host) + refOcsfPortSuffix(port) + uri
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

// refOcsfHostForURL brackets an IPv6 literal.
func refOcsfHostForURL(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

func refOcsfPortSuffix(port int) string {
	if port == 0 {
		return ""
	}
	return ":" + strconv.Itoa(port)
}

// refOcsfCutScheme splits "scheme://rest" (RFC 3986 scheme syntax).
func refOcsfCutScheme(s string) (scheme, rest string, ok bool) {
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

// refOcsfSplitHostPort splits "host:port" when the port is a valid one; otherwise the
// whole string is the host. IPv6 literals lose their brackets.
func refOcsfSplitHostPort(s string) (string, int) {
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

func (m *refOcsfMapper) mapMatch(ev *refOcsfEvent) {
	h := &m.h
	var details []string
	hasDetails, location := false, ""
	if raw := h.payload; raw != nil {
		switch jsonscan.Kind(raw) {
		case '"':
			details, hasDetails = []string{jsonscan.StringView(raw)}, true
		case '[':
			m.list = m.list[:0]
			jsonscan.EachElement(raw, func(el []byte) { m.list = append(m.list, el) })
			details, hasDetails = make([]string, len(m.list)), true
			for i, el := range m.list {
				details[i] = refOcsfTextOf(el)
			}
		}
	}
	if raw := h.point; raw != nil {
		switch jsonscan.Kind(raw) {
		case '"':
			location = jsonscan.StringView(raw)
		case '[':
			location = refOcsfCompactText(raw)
		}
	}
	if ev.FirewallRule == nil || !hasDetails {
		if h.payload != nil {
			m.unmap("payload", h.payload) // no rule to attach it to, or not a list
		}
	}
	if ev.FirewallRule == nil || location == "" {
		if h.point != nil {
			m.unmap("point", h.point)
		}
	}
	if ev.FirewallRule == nil {
		return
	}
	m.rule.MatchDetails, m.rule.HasMatchDetails = details, hasDetails
	m.rule.MatchLocation = location
}

// mapTags turns a JSON object into name/value pairs sorted by name. Strings
// stay as they are; numbers and booleans become their JSON text; arrays of
// scalars become values; anything else (objects, nested or empty arrays,
// null) becomes its compact JSON text. It reports false when tags is not a
// non-empty object.
func (m *refOcsfMapper) mapTags(ev *refOcsfEvent, raw []byte) bool {
	if jsonscan.Kind(raw) != '{' {
		return false
	}
	m.tagsRaw = m.tagsRaw[:0]
	jsonscan.EachMember(raw, func(key, val []byte) {
		m.tagsRaw = append(m.tagsRaw, refOcsfRawField{string(key), val})
	})
	if len(m.tagsRaw) == 0 {
		return false
	}
	fields := refOcsfSortFields(m.tagsRaw)
	m.tags = m.tags[:0]
	for _, f := range fields {
		kv := refOcsfKeyVals{Name: f.key, HasValue: true}
		switch jsonscan.Kind(f.val) {
		case '"':
			kv.Value = jsonscan.StringView(f.val)
		case '0', 't', 'f':
			kv.Value = string(f.val)
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
				kv.Values = make([]string, len(m.list))
				for i, el := range m.list {
					kv.Values[i] = refOcsfTextOf(el)
				}
			} else {
				kv.Value = refOcsfCompactText(f.val)
			}
		default:
			kv.Value = refOcsfCompactText(f.val)
		}
		m.tags = append(m.tags, kv)
	}
	ev.Metadata.Tags = m.tags
	return true
}

// refOcsfSortFields sorts by key and keeps the last of equal keys (input order):
// encoding/json's rule for duplicate keys.
func refOcsfSortFields(fs []refOcsfRawField) []refOcsfRawField {
	if len(fs) < 2 {
		return fs
	}
	slices.SortStableFunc(fs, func(a, b refOcsfRawField) int { return strings.Compare(a.key, b.key) })
	out := fs[:0]
	for i, f := range fs {
		if i+1 < len(fs) && fs[i+1].key == f.key {
			continue
		}
		out = append(out, f)
	}
	return out
}

// ---- ocsf_json.go

// Writing the OCSF event as JSON, by hand, in a fixed key order.

func (ev *refOcsfEvent) appendJSON(b []byte) []byte {
	b = append(b, `{"activity_id":`...)
	b = strconv.AppendInt(b, int64(ev.ActivityID), 10)
	b = refOcsfAppendStr(b, `,"activity_name":`, ev.ActivityName)
	b = append(b, `,"category_uid":4,"category_name":"Network Activity","class_uid":4002,"class_name":"HTTP Activity","type_uid":`...)
	b = strconv.AppendInt(b, int64(refOcsfClassUID*100+ev.ActivityID), 10)
	b = refOcsfAppendStr(b, `,"type_name":`, ev.TypeName)
	b = append(b, `,"severity_id":`...)
	b = strconv.AppendInt(b, int64(ev.SeverityID), 10)
	b = refOcsfAppendStr(b, `,"severity":`, refOcsfSeverityNames[ev.SeverityID])
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, ev.Time, 10)
	b = append(b, `,"action_id":`...)
	b = strconv.AppendInt(b, int64(ev.ActionID), 10)
	b = refOcsfAppendStr(b, `,"action":`, ev.Action)
	b = append(b, `,"disposition_id":`...)
	b = strconv.AppendInt(b, int64(ev.DispositionID), 10)
	b = refOcsfAppendStr(b, `,"disposition":`, ev.Disposition)
	b = append(b, `,"is_alert":`...)
	b = strconv.AppendBool(b, ev.IsAlert)
	b = refOcsfAppendOptStr(b, `,"message":`, ev.Message)

	md := &ev.Metadata
	b = append(b, `,"metadata":{"version":"`+refOcsfSchemaVersion+`","product":{"name":"`+refOcsfProductName+
		`","vendor_name":"`+refOcsfVendorName+`"},"profiles":["`+refOcsfProfile+`"]`...)
	b = refOcsfAppendOptStr(b, `,"uid":`, md.UID)
	if md.Topic != "" {
		b = refOcsfAppendStr(b, `,"original_event_uid":`, md.Topic)
		b = append(b[:len(b)-1], '/') // inside the string: topic/partition/offset
		b = strconv.AppendInt(b, int64(md.Partition), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, md.Offset, 10)
		b = append(b, '"')
	}
	b = refOcsfAppendOptStr(b, `,"original_time":`, md.OriginalTime)
	if md.Topic != "" {
		b = refOcsfAppendStr(b, `,"log_provider":"Kafka","log_name":`, md.Topic)
	}
	if len(md.Tags) > 0 {
		b = refOcsfAppendArray(b, `,"tags":`, md.Tags, func(b []byte, t *refOcsfKeyVals) []byte {
			b = refOcsfAppendStr(b, `{"name":`, t.Name)
			if t.HasValue {
				b = refOcsfAppendStr(b, `,"value":`, t.Value)
			} else {
				b = refOcsfAppendStrs(b, `,"values":`, t.Values)
			}
			return append(b, '}')
		})
	}
	b = append(b, '}')

	b = ev.SrcEndpoint.appendJSON(b, `,"src_endpoint":`)
	b = ev.DstEndpoint.appendJSON(b, `,"dst_endpoint":`)
	if r := ev.HTTPRequest; r != nil {
		b = append(b, `,"http_request":{`...)
		n := len(b)
		b = refOcsfAppendOptStr(b, `,"uid":`, r.UID)
		b = refOcsfAppendOptStr(b, `,"http_method":`, r.HTTPMethod)
		if u := r.URL; u != nil {
			b = append(b, `,"url":{`...)
			nu := len(b)
			b = refOcsfAppendOptStr(b, `,"url_string":`, u.URLString)
			b = refOcsfAppendOptStr(b, `,"scheme":`, u.Scheme)
			b = refOcsfAppendOptStr(b, `,"hostname":`, u.Hostname)
			b = refOcsfAppendOptInt(b, `,"port":`, u.Port)
			b = refOcsfAppendOptStr(b, `,"path":`, u.Path)
			b = refOcsfAppendOptStr(b, `,"query_string":`, u.QueryString)
			b = refOcsfDropComma(b, nu)
			b = append(b, '}')
		}
		b = refOcsfAppendOptStr(b, `,"version":`, r.Version)
		b = refOcsfDropComma(b, n)
		b = append(b, '}')
	}
	if r := ev.HTTPResponse; r != nil {
		b = append(b, `,"http_response":{"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
		b = append(b, '}')
	}
	if r := ev.FirewallRule; r != nil {
		b = refOcsfAppendStr(b, `,"firewall_rule":{"uid":`, r.UID)
		b = refOcsfAppendStr(b, `,"name":`, r.Name)
		b = refOcsfAppendStr(b, `,"condition":`, r.Condition)
		if r.HasMatchDetails {
			b = refOcsfAppendStrs(b, `,"match_details":`, r.MatchDetails)
		}
		b = refOcsfAppendOptStr(b, `,"match_location":`, r.MatchLocation)
		b = append(b, '}')
	}
	if len(ev.Attacks) > 0 {
		b = refOcsfAppendArray(b, `,"attacks":`, ev.Attacks, func(b []byte, a *refOcsfAttack) []byte {
			b = append(b, '{')
			n := len(b)
			b = a.Tactic.appendJSON(b, `,"tactic":`)
			b = a.Technique.appendJSON(b, `,"technique":`)
			b = a.SubTechnique.appendJSON(b, `,"sub_technique":`)
			b = refOcsfDropComma(b, n)
			return append(b, '}')
		})
	}
	if len(ev.Enrichments) > 0 {
		b = refOcsfAppendArray(b, `,"enrichments":`, ev.Enrichments, func(b []byte, e *refOcsfEnrichment) []byte {
			b = refOcsfAppendStr(b, `{"name":`, e.Name)
			b = refOcsfAppendStr(b, `,"value":`, e.Value)
			b = refOcsfAppendStr(b, `,"type":`, e.Type)
			b = refOcsfAppendStr(b, `,"provider":`, e.Provider)
			b = refOcsfAppendStr(b, `,"short_desc":`, e.ShortDesc)
			b = refOcsfAppendFields(append(b, `,"data":`...), e.Data)
			return append(b, '}')
		})
	}
	b = refOcsfAppendOptStr(b, `,"raw_data":`, ev.RawData)
	if len(ev.Unmapped) > 0 {
		b = refOcsfAppendFields(append(b, `,"unmapped":`...), ev.Unmapped)
	}
	return append(b, '}')
}

func (e *refOcsfEndpoint) appendJSON(b []byte, prefix string) []byte {
	if e == nil {
		return b
	}
	b = append(b, prefix...)
	b = append(b, '{')
	n := len(b)
	b = refOcsfAppendOptStr(b, `,"ip":`, e.IP)
	b = refOcsfAppendOptStr(b, `,"hostname":`, e.Hostname)
	b = refOcsfAppendOptInt(b, `,"port":`, e.Port)
	if e.Country != "" {
		b = refOcsfAppendStr(b, `,"location":{"country":`, e.Country)
		b = append(b, '}')
	}
	b = refOcsfDropComma(b, n)
	return append(b, '}')
}

func (t *refOcsfMitre) appendJSON(b []byte, prefix string) []byte {
	if t == nil {
		return b
	}
	b = refOcsfAppendStr(append(b, prefix...), `{"uid":`, t.UID)
	b = refOcsfAppendStr(b, `,"name":`, t.Name)
	return append(b, '}')
}

// refOcsfDropComma removes the comma of the first member written after offset n.
func refOcsfDropComma(b []byte, n int) []byte {
	if len(b) > n && b[n] == ',' {
		copy(b[n:], b[n+1:])
		b = b[:len(b)-1]
	}
	return b
}

func refOcsfAppendStr(b []byte, prefix, s string) []byte {
	return refOcsfAppendString(append(b, prefix...), s)
}

func refOcsfAppendOptStr(b []byte, prefix, s string) []byte {
	if s == "" {
		return b
	}
	return refOcsfAppendStr(b, prefix, s)
}

func refOcsfAppendOptInt(b []byte, prefix string, n int) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, prefix...), int64(n), 10)
}

func refOcsfAppendStrs(b []byte, prefix string, ss []string) []byte {
	return refOcsfAppendArray(b, prefix, ss, func(b []byte, s *string) []byte { return refOcsfAppendString(b, *s) })
}

// refOcsfAppendArray writes prefix and the JSON array of xs, each element
// written by el.
func refOcsfAppendArray[T any](b []byte, prefix string, xs []T, el func(b []byte, x *T) []byte) []byte {
	b = append(b, prefix...)
	b = append(b, '[')
	for i := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = el(b, &xs[i])
	}
	return append(b, ']')
}

// refOcsfAppendFields writes an object of raw values (keys already sorted, unique).
func refOcsfAppendFields(b []byte, fs []refOcsfRawField) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = refOcsfAppendString(b, f.key)
		b = append(b, ':')
		b = refOcsfAppendCompact(b, f.val)
	}
	return append(b, '}')
}

const refOcsfHexDigits = "0123456789abcdef"

// refOcsfAppendString writes s as a JSON string the way encoding/json does with
// SetEscapeHTML(false): invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are
// escaped, and so are control characters.
func refOcsfAppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i += jsonscan.PlainASCII(s[i:]); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
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
				b = append(b, '\\', 'u', '0', '0', refOcsfHexDigits[c>>4], refOcsfHexDigits[c&0xF])
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
			b = append(b, '\\', 'u', '2', '0', '2', refOcsfHexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// refOcsfAppendCompact writes a raw JSON value (valid) without insignificant
// whitespace; invalid UTF-8 inside strings becomes U+FFFD, so the output is
// valid UTF-8 whatever the input was.
func refOcsfAppendCompact(b, raw []byte) []byte {
	if bytes.IndexAny(raw, " \t\r\n") < 0 && utf8.Valid(raw) {
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

// ---- ocsf_read.go

// Reading the values of a hit (raw JSON, already checked by json.Valid) the
// mapping needs as text, IP address, HTTP version or status code.

func refOcsfNonEmptyString(raw []byte) (string, bool) {
	if jsonscan.Kind(raw) != '"' {
		return "", false
	}
	s := jsonscan.StringView(raw)
	return s, s != ""
}

// refOcsfTextOf is a raw value as text: a string's content, else compact JSON.
func refOcsfTextOf(raw []byte) string {
	if jsonscan.Kind(raw) == '"' {
		return jsonscan.StringView(raw)
	}
	return refOcsfCompactText(raw)
}

func refOcsfCompactText(raw []byte) string {
	return string(refOcsfAppendCompact(nil, raw))
}

// refOcsfValidIP accepts what OCSF's ip_t accepts and Go can parse: IPv4 and IPv6
// (with an optional zone), at most 40 characters.
func refOcsfValidIP(s string) bool {
	if len(s) > 40 {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return !a.Is4() || !strings.Contains(s, "%")
}

// refOcsfHTTPVersion recognises "HTTP/1.1", "http/2", "1.0", "HTTP/3.0"... and
// returns the version number as written.
func refOcsfHTTPVersion(raw []byte) (string, bool) {
	s, ok := refOcsfNonEmptyString(raw)
	if !ok {
		return "", false
	}
	v := s
	if len(v) > 5 && strings.EqualFold(v[:5], "HTTP/") {
		v = v[5:]
	}
	switch v {
	case "0.9", "1.0", "1.1", "2", "2.0", "3", "3.0":
		return v, true
	}
	return "", false
}

// refOcsfStatusCode accepts an integral JSON number or a string of digits in 0..999.
func refOcsfStatusCode(raw []byte) (int, bool) {
	var s string
	switch jsonscan.Kind(raw) {
	case '0':
		s = string(bytes.TrimSpace(raw))
	case '"':
		s = jsonscan.StringView(raw)
	default:
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 0 && n <= 999 && (jsonscan.Kind(raw) == '0' || s == strconv.Itoa(n)) {
			return n, true
		}
		return 0, false
	}
	if jsonscan.Kind(raw) != '0' {
		return 0, false
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != math.Trunc(fl) || fl < 0 || fl > 999 {
		return 0, false
	}
	return int(fl), true
}

// ---- ocsf_message.go

// refOcsfMessageMaxPath bounds the path quoted in message (attack paths can be
// long; the whole URL is in http_request.url).
const refOcsfMessageMaxPath = 120

// refOcsfMessage is the event's message, OCSF's recommended short description
// for humans: the attack, what was done about it, and the request, e.g.
// "SQL Injection blocked: GET /login". The attack is the firewall rule's
// name ("Request" without an attack type), the outcome the disposition in
// lower case, the path the URL's (cut to 120 bytes with "…"); without
// method or path that part is left out.
func refOcsfMessage(ev *refOcsfEvent) string {
	var b strings.Builder
	if ev.FirewallRule != nil && ev.FirewallRule.Name != "" {
		b.WriteString(ev.FirewallRule.Name)
	} else {
		b.WriteString("Request")
	}
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(ev.Disposition))
	method, path := "", ""
	if r := ev.HTTPRequest; r != nil {
		method = r.HTTPMethod
		if method == "" && ev.ActivityID == 99 {
			method = ev.ActivityName // a method OCSF does not list
		}
		if r.URL != nil {
			path = r.URL.Path
		}
	}
	if len(path) > refOcsfMessageMaxPath {
		cut := refOcsfMessageMaxPath
		for cut > 0 && !utf8.RuneStart(path[cut]) {
			cut--
		}
		path = path[:cut] + "…"
	}
	if method != "" || path != "" {
		b.WriteString(":")
		for _, s := range []string{method, path} {
			if s != "" {
				b.WriteByte(' ')
				b.WriteString(s)
			}
		}
	}
	return b.String()
}
