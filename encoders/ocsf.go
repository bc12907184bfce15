package encoders

// OCSF output: every hit becomes one OCSF 1.8.0 HTTP Activity event (class_uid
// 4002, category_uid 4) with the security_control profile. README.md (section OCSF) holds
// the mapping table and the rules for severity and block_status; keep it in
// step with this file, and bump ocsfVersion whenever the bytes written for the
// same input change (the golden files under testdata/ocsf/ tell).
//
// The hit is read with a small scanner over its raw bytes (after json.Valid)
// and the event is written by hand: no reflection, no generic maps, few
// allocations. Object keys in the output are in a fixed order; vendor data
// (unmapped, enrichment data, tags) is sorted by key, so the same input gives
// the same bytes.

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

func init() {
	Register("ocsf", func() Encoder { return ocsfNDJSON{} })
	Register("ocsf-json", func() Encoder { return ocsfJSON{} })
}

// ocsfVersion identifies the mapping (see Encoder.Version).
const ocsfVersion = "ocsf-1.8.0/2"

// OCSF constants of the class used.
const (
	ocsfSchemaVersion = "1.8.0"
	ocsfClassUID      = 4002
	ocsfClassName     = "HTTP Activity"
	ocsfCategoryUID   = 4
	ocsfCategoryName  = "Network Activity"
	ocsfProfile       = "security_control"
	ocsfProductName   = "Wallarm Node"
	ocsfVendorName    = "Wallarm"
)

// ocsfNDJSON is format "ocsf": one OCSF event per line.
type ocsfNDJSON struct{}

func (ocsfNDJSON) Format() string      { return "ocsf" }
func (ocsfNDJSON) Extension() string   { return ".ocsf.ndjson" }
func (ocsfNDJSON) ContentType() string { return "application/x-ndjson" }
func (ocsfNDJSON) Version() string     { return ocsfVersion }
func (ocsfNDJSON) NewWriter(w io.Writer) RecordWriter {
	return &ocsfWriter{w: w, array: false}
}

// ocsfJSON is format "ocsf-json": one JSON array of OCSF events, one element
// per line, laid out like format "json".
type ocsfJSON struct{}

func (ocsfJSON) Format() string      { return "ocsf-json" }
func (ocsfJSON) Extension() string   { return ".ocsf.json" }
func (ocsfJSON) ContentType() string { return "application/json" }
func (ocsfJSON) Version() string     { return ocsfVersion }
func (ocsfJSON) NewWriter(w io.Writer) RecordWriter {
	return &ocsfWriter{w: w, array: true}
}

// ocsfWriter maps and writes records. It keeps its scratch space between
// records, so steady-state encoding allocates little.
type ocsfWriter struct {
	w     io.Writer
	array bool
	n     int
	buf   []byte
	m     ocsfMapper
}

func (o *ocsfWriter) Write(rec Record) error {
	b := o.buf[:0]
	if o.array {
		if o.n == 0 {
			b = append(b, "[\n"...)
		} else {
			b = append(b, ",\n"...)
		}
	}
	b = o.m.mapHit(rec).appendJSON(b)
	if !o.array {
		b = append(b, '\n')
	}
	if cap(b) <= 1<<20 {
		o.buf = b // keep the buffer, unless a huge hit made it huge
	}
	o.n++
	_, err := o.w.Write(b)
	return err
}

func (o *ocsfWriter) Close() error {
	if !o.array {
		return nil
	}
	end := "\n]\n"
	if o.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(o.w, end)
	return err
}

// ---------------------------------------------------------------------------
// The event, written in this field order by appendJSON.

type ocsfEvent struct {
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
	Message       string // ocsfMessage
	Metadata      ocsfMetadata
	SrcEndpoint   *ocsfEndpoint
	DstEndpoint   *ocsfEndpoint
	HTTPRequest   *ocsfHTTPRequest
	HTTPResponse  *ocsfHTTPResponse
	FirewallRule  *ocsfFirewallRule
	Attacks       []ocsfAttack
	Enrichments   []ocsfEnrichment
	RawData       string
	Unmapped      []ocsfRawField // sorted by key, keys unique
}

type ocsfMetadata struct {
	UID          string // the hit's request_id
	Topic        string // original_event_uid is topic/partition/offset when there is a topic
	Partition    int
	Offset       int64
	OriginalTime string
	Tags         []ocsfKeyVals
}

type ocsfKeyVals struct {
	Name     string
	Value    string
	HasValue bool // else Values
	Values   []string
}

type ocsfEndpoint struct {
	IP       string
	Hostname string
	Port     int
	Country  string // location.country
}

type ocsfHTTPRequest struct {
	UID        string
	HTTPMethod string
	URL        *ocsfURL
	Version    string
}

type ocsfURL struct {
	URLString   string
	Scheme      string
	Hostname    string
	Port        int
	Path        string
	QueryString string
}

type ocsfHTTPResponse struct {
	Code int
}

type ocsfFirewallRule struct {
	UID, Name, Condition string
	MatchDetails         []string
	HasMatchDetails      bool
	MatchLocation        string
}

type ocsfAttack struct {
	Tactic, Technique, SubTechnique *ocsfMitre
}

type ocsfMitre struct {
	UID, Name string
}

type ocsfEnrichment struct {
	Name, Value, Type, Provider, ShortDesc string
	Data                                   []ocsfRawField // sorted by key
}

// ocsfRawField is a member of a JSON object: its key and raw (valid JSON) value.
type ocsfRawField struct {
	key string
	val []byte
}

// ---------------------------------------------------------------------------
// Vocabularies.

// ocsfActivities: the class's activity enum, keyed by the HTTP method (exact,
// case-sensitive: HTTP methods are).
var ocsfActivities = map[string]struct {
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

var ocsfSeverityNames = [...]string{0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}

// ocsfAttackInfo describes one vendor attack type: its display name, the base
// severity_id and the MITRE ATT&CK mapping.
type ocsfAttackInfo struct {
	name     string
	severity int
	attack   *ocsfAttack
}

var (
	ocsfAttackExploit = &ocsfAttack{
		Tactic:    &ocsfMitre{UID: "TA0001", Name: "Initial Access"},
		Technique: &ocsfMitre{UID: "T1190", Name: "Exploit Public-Facing Application"},
	}
	ocsfAttackBrute = &ocsfAttack{
		Tactic:    &ocsfMitre{UID: "TA0006", Name: "Credential Access"},
		Technique: &ocsfMitre{UID: "T1110", Name: "Brute Force"},
	}
	ocsfAttackScanning = &ocsfAttack{
		Tactic:       &ocsfMitre{UID: "TA0043", Name: "Reconnaissance"},
		Technique:    &ocsfMitre{UID: "T1595", Name: "Active Scanning"},
		SubTechnique: &ocsfMitre{UID: "T1595.002", Name: "Vulnerability Scanning"},
	}
)

// Severity scale: 4 High = the attack can compromise the server or its data;
// 3 Medium = it targets the application's users or sessions; 2 Low =
// reconnaissance. Blocked hits are one level lower (see ocsfSeverity).
var ocsfAttackTypes = map[string]ocsfAttackInfo{
	"sqli":           {"SQL Injection", 4, ocsfAttackExploit},
	"nosqli":         {"NoSQL Injection", 4, ocsfAttackExploit},
	"rce":            {"Remote Code Execution", 4, ocsfAttackExploit},
	"xxe":            {"XML External Entity", 4, ocsfAttackExploit},
	"ssrf":           {"Server-Side Request Forgery", 4, ocsfAttackExploit},
	"ptrav":          {"Path Traversal", 4, ocsfAttackExploit},
	"ldapi":          {"LDAP Injection", 4, ocsfAttackExploit},
	"ssti":           {"Server-Side Template Injection", 4, ocsfAttackExploit},
	"vpatch":         {"Virtual Patch", 4, ocsfAttackExploit},
	"xss":            {"Cross-Site Scripting", 3, ocsfAttackExploit},
	"crlf":           {"CRLF Injection", 3, ocsfAttackExploit},
	"redir":          {"Open Redirect", 3, ocsfAttackExploit},
	"mail_injection": {"Mail Injection", 3, ocsfAttackExploit},
	"brute":          {"Brute Force", 3, ocsfAttackBrute},
	"scanner":        {"Scanner", 2, ocsfAttackScanning},
}

// ocsfUnknownAttackSeverity is the base severity of an attack type not listed
// above (or missing): a hit is a detected attack, so not below Medium.
const ocsfUnknownAttackSeverity = 3

// ocsfSeverity is the severity rule: the attack type's base severity (High 4,
// Medium 3, Low 2; 3 when unknown), one level lower when the request was
// blocked, never below Informational (1).
func ocsfSeverity(base int, blocked bool) int {
	if blocked {
		base--
	}
	if base < 1 {
		base = 1
	}
	return base
}

// ---------------------------------------------------------------------------
// Mapping.

// ocsfHitFields are the raw values of the hit's known fields (nil when absent;
// the last occurrence of a duplicate key wins, as with encoding/json) and the
// other members in input order.
type ocsfHitFields struct {
	time, requestID, ip, datacenter, tor, remoteCountry, domain, method, uri,
	protocol, statusCode, attackType, blockStatus, payload, point, tags []byte
	extra []ocsfRawField
}

// ocsfMapper holds the scratch space of one writer.
type ocsfMapper struct {
	h        ocsfHitFields
	unmapped []ocsfRawField
	tagsRaw  []ocsfRawField
	list     [][]byte
	tags     []ocsfKeyVals
	enrData  [2]ocsfRawField

	ev   ocsfEvent
	src  ocsfEndpoint
	dst  ocsfEndpoint
	req  ocsfHTTPRequest
	url  ocsfURL
	resp ocsfHTTPResponse
	rule ocsfFirewallRule
	attk [1]ocsfAttack
	enr  [1]ocsfEnrichment
}

// mapHit maps one hit. It never fails: what has no place in the class goes to
// unmapped, and a value that is not a JSON object becomes raw_data.
func (m *ocsfMapper) mapHit(rec Record) *ocsfEvent {
	m.ev = ocsfEvent{Time: rec.TimeMillis}
	ev := &m.ev
	m.setMetadata(ev, rec)
	m.req = ocsfHTTPRequest{}
	ev.HTTPRequest = &m.req // always present: the class needs http_request or http_response
	m.unmapped = m.unmapped[:0]

	if !json.Valid(rec.Value) || !m.scanHit(rec.Value) {
		m.setClass(ev, 0, "Unknown")
		ev.SeverityID = ocsfUnknownAttackSeverity
		ev.Action, ev.Disposition = "Unknown", "Unknown"
		ev.RawData = string(rec.Value)
		return ev
	}
	h := &m.h

	// time: the original as text (time itself is rec.TimeMillis).
	if raw := h.time; raw != nil {
		switch ocsfKind(raw) {
		case '"':
			ev.Metadata.OriginalTime = ocsfString(raw)
		case '0':
			ev.Metadata.OriginalTime = string(raw)
		}
		if ev.Metadata.OriginalTime == "" {
			m.unmap("time", raw)
		}
	}

	// request_id
	if raw := h.requestID; raw != nil {
		if s, ok := ocsfNonEmptyString(raw); ok {
			m.req.UID = s
			ev.Metadata.UID = s
		} else {
			m.unmap("request_id", raw)
		}
	}

	// method -> http_method, activity
	activityID, activityName := 0, "Unknown"
	if raw := h.method; raw != nil {
		s, isStr := ocsfNonEmptyString(raw)
		if a, known := ocsfActivities[s]; isStr && known {
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
		if v, ok := ocsfHTTPVersion(raw); ok {
			m.req.Version = v
		} else {
			m.unmap("protocol", raw)
		}
	}

	// status_code -> http_response.code
	if raw := h.statusCode; raw != nil {
		if code, ok := ocsfStatusCode(raw); ok {
			m.resp = ocsfHTTPResponse{Code: code}
			ev.HTTPResponse = &m.resp
		} else {
			m.unmap("status_code", raw)
		}
	}

	// attack_type, payload, point -> firewall_rule, attacks; severity
	base := ocsfUnknownAttackSeverity
	if raw := h.attackType; raw != nil {
		if s, ok := ocsfNonEmptyString(raw); ok {
			m.rule = ocsfFirewallRule{UID: s, Name: s, Condition: s}
			if info, known := ocsfAttackTypes[s]; known {
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
		if s, ok := ocsfNonEmptyString(raw); ok {
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
	ev.Message = ocsfMessage(ev)

	// tags -> metadata.tags
	if raw := h.tags; raw != nil && !m.mapTags(ev, raw) {
		m.unmap("tags", raw)
	}

	// application_id and the fields the mapping does not know: unmapped.
	m.unmapped = append(m.unmapped, h.extra...)
	if len(m.unmapped) > 0 {
		ev.Unmapped = ocsfSortFields(m.unmapped)
	}
	return ev
}

func (m *ocsfMapper) unmap(key string, raw []byte) {
	m.unmapped = append(m.unmapped, ocsfRawField{key, raw})
}

// scanHit splits the hit (valid JSON) into its fields; false when it is not
// an object.
func (m *ocsfMapper) scanHit(b []byte) bool {
	h := &m.h
	extra := h.extra[:0]
	*h = ocsfHitFields{}
	ok := ocsfEachMember(b, func(key []byte, val []byte) {
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
			extra = append(extra, ocsfRawField{string(key), val})
		}
	})
	h.extra = extra
	return ok
}

// ocsfTypeNames are the captions of type_uid by activity_id.
var ocsfTypeNames = map[int]string{
	0: "HTTP Activity: Unknown", 1: "HTTP Activity: Connect", 2: "HTTP Activity: Delete",
	3: "HTTP Activity: Get", 4: "HTTP Activity: Head", 5: "HTTP Activity: Options",
	6: "HTTP Activity: Post", 7: "HTTP Activity: Put", 8: "HTTP Activity: Trace",
	9: "HTTP Activity: Patch", 99: "HTTP Activity: Other",
}

func (m *ocsfMapper) setClass(ev *ocsfEvent, activityID int, activityName string) {
	ev.ActivityID = activityID
	ev.ActivityName = activityName
	ev.TypeName = ocsfTypeNames[activityID]
}

// setMetadata notes the Kafka location: metadata.original_event_uid is
// topic/partition/offset, the record the event was made from (the same on
// every replay).
func (m *ocsfMapper) setMetadata(ev *ocsfEvent, rec Record) {
	ev.Metadata.Topic, ev.Metadata.Partition, ev.Metadata.Offset = rec.Topic, rec.Partition, rec.Offset
}

func (m *ocsfMapper) mapSource(ev *ocsfEvent) {
	h := &m.h
	ip, ipOK := "", false
	if h.ip != nil {
		if s, ok := ocsfNonEmptyString(h.ip); ok && ocsfValidIP(s) {
			ip, ipOK = s, true
		} else {
			m.unmap("ip", h.ip)
		}
	}
	// Without a source endpoint (its ip) there is nothing to attach the
	// country or the enrichment to: those then go to unmapped.
	if ipOK {
		m.src = ocsfEndpoint{IP: ip}
		ev.SrcEndpoint = &m.src
	}
	if raw := h.remoteCountry; raw != nil {
		if s, isStr := ocsfNonEmptyString(raw); isStr && ipOK {
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
		data = append(data, ocsfRawField{"datacenter", h.datacenter})
	}
	if h.tor != nil {
		data = append(data, ocsfRawField{"tor", h.tor})
	}
	m.enr[0] = ocsfEnrichment{
		Name:      "src_endpoint.ip",
		Value:     ip,
		Type:      "hit_source",
		Provider:  ocsfVendorName,
		ShortDesc: "Source type of the attacker's IP (datacenter, Tor)",
		Data:      data,
	}
	ev.Enrichments = m.enr[:]
}

func (m *ocsfMapper) mapTarget(ev *ocsfEvent) {
	h := &m.h
	host, port := "", 0
	if raw := h.domain; raw != nil {
		if s, ok := ocsfNonEmptyString(raw); ok {
			host, port = ocsfSplitHostPort(s)
			m.dst = ocsfEndpoint{Hostname: host, Port: port}
			ev.DstEndpoint = &m.dst
		} else {
			m.unmap("domain", raw)
		}
	}
	raw := h.uri
	if raw == nil {
		return // a url needs a path or a url_string; the host is in dst_endpoint
	}
	uri, ok := ocsfNonEmptyString(raw)
	if !ok {
		m.unmap("uri", raw)
		return
	}
	m.url = ocsfURL{Hostname: host, Port: port}
	rest := uri
	if scheme, after, abs := ocsfCutScheme(uri); abs {
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
			m.url.Hostname, m.url.Port = ocsfSplitHostPort(authority)
		}
	} else if host != "" && strings.HasPrefix(uri, "/") && !strings.HasPrefix(uri, "//") {
		// origin-form: the scheme is not in the hit, so the URL is given as a
		// network-path reference (RFC 3986 section 4.2)
		m.url.URLString = "//" + ocsfHostForURL(host) + ocsfPortSuffix(port) + uri
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

// ocsfHostForURL brackets an IPv6 literal.
func ocsfHostForURL(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

func ocsfPortSuffix(port int) string {
	if port == 0 {
		return ""
	}
	return ":" + strconv.Itoa(port)
}

// ocsfCutScheme splits "scheme://rest" (RFC 3986 scheme syntax).
func ocsfCutScheme(s string) (scheme, rest string, ok bool) {
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
	hasDetails, location := false, ""
	if raw := h.payload; raw != nil {
		switch ocsfKind(raw) {
		case '"':
			details, hasDetails = []string{ocsfString(raw)}, true
		case '[':
			m.list = m.list[:0]
			ocsfEachElement(raw, func(el []byte) { m.list = append(m.list, el) })
			details, hasDetails = make([]string, len(m.list)), true
			for i, el := range m.list {
				details[i] = ocsfTextOf(el)
			}
		}
	}
	if raw := h.point; raw != nil {
		switch ocsfKind(raw) {
		case '"':
			location = ocsfString(raw)
		case '[':
			location = ocsfCompactText(raw)
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
func (m *ocsfMapper) mapTags(ev *ocsfEvent, raw []byte) bool {
	if ocsfKind(raw) != '{' {
		return false
	}
	m.tagsRaw = m.tagsRaw[:0]
	ocsfEachMember(raw, func(key, val []byte) {
		m.tagsRaw = append(m.tagsRaw, ocsfRawField{string(key), val})
	})
	if len(m.tagsRaw) == 0 {
		return false
	}
	fields := ocsfSortFields(m.tagsRaw)
	m.tags = m.tags[:0]
	for _, f := range fields {
		kv := ocsfKeyVals{Name: f.key, HasValue: true}
		switch ocsfKind(f.val) {
		case '"':
			kv.Value = ocsfString(f.val)
		case '0', 't', 'f':
			kv.Value = string(f.val)
		case '[':
			m.list = m.list[:0]
			scalars := true
			ocsfEachElement(f.val, func(el []byte) {
				m.list = append(m.list, el)
				switch ocsfKind(el) {
				case '"', '0', 't', 'f':
				default:
					scalars = false
				}
			})
			if scalars && len(m.list) > 0 {
				kv.HasValue = false
				kv.Values = make([]string, len(m.list))
				for i, el := range m.list {
					kv.Values[i] = ocsfTextOf(el)
				}
			} else {
				kv.Value = ocsfCompactText(f.val)
			}
		default:
			kv.Value = ocsfCompactText(f.val)
		}
		m.tags = append(m.tags, kv)
	}
	ev.Metadata.Tags = m.tags
	return true
}

// ocsfSortFields sorts by key and keeps the last of equal keys (input order):
// encoding/json's rule for duplicate keys.
func ocsfSortFields(fs []ocsfRawField) []ocsfRawField {
	if len(fs) < 2 {
		return fs
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

// ---------------------------------------------------------------------------
// Writing the event.

func (ev *ocsfEvent) appendJSON(b []byte) []byte {
	b = append(b, `{"activity_id":`...)
	b = strconv.AppendInt(b, int64(ev.ActivityID), 10)
	b = ocsfAppendStr(b, `,"activity_name":`, ev.ActivityName)
	b = append(b, `,"category_uid":4,"category_name":"Network Activity","class_uid":4002,"class_name":"HTTP Activity","type_uid":`...)
	b = strconv.AppendInt(b, int64(ocsfClassUID*100+ev.ActivityID), 10)
	b = ocsfAppendStr(b, `,"type_name":`, ev.TypeName)
	b = append(b, `,"severity_id":`...)
	b = strconv.AppendInt(b, int64(ev.SeverityID), 10)
	b = ocsfAppendStr(b, `,"severity":`, ocsfSeverityNames[ev.SeverityID])
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, ev.Time, 10)
	b = append(b, `,"action_id":`...)
	b = strconv.AppendInt(b, int64(ev.ActionID), 10)
	b = ocsfAppendStr(b, `,"action":`, ev.Action)
	b = append(b, `,"disposition_id":`...)
	b = strconv.AppendInt(b, int64(ev.DispositionID), 10)
	b = ocsfAppendStr(b, `,"disposition":`, ev.Disposition)
	b = append(b, `,"is_alert":`...)
	b = strconv.AppendBool(b, ev.IsAlert)
	b = ocsfAppendOptStr(b, `,"message":`, ev.Message)

	md := &ev.Metadata
	b = append(b, `,"metadata":{"version":"`+ocsfSchemaVersion+`","product":{"name":"`+ocsfProductName+
		`","vendor_name":"`+ocsfVendorName+`"},"profiles":["`+ocsfProfile+`"]`...)
	b = ocsfAppendOptStr(b, `,"uid":`, md.UID)
	if md.Topic != "" {
		b = ocsfAppendStr(b, `,"original_event_uid":`, md.Topic)
		b = append(b[:len(b)-1], '/') // inside the string: topic/partition/offset
		b = strconv.AppendInt(b, int64(md.Partition), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, md.Offset, 10)
		b = append(b, '"')
	}
	b = ocsfAppendOptStr(b, `,"original_time":`, md.OriginalTime)
	if md.Topic != "" {
		b = ocsfAppendStr(b, `,"log_provider":"Kafka","log_name":`, md.Topic)
	}
	if len(md.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i := range md.Tags {
			t := &md.Tags[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = ocsfAppendStr(b, `{"name":`, t.Name)
			if t.HasValue {
				b = ocsfAppendStr(b, `,"value":`, t.Value)
			} else {
				b = ocsfAppendStrs(b, `,"values":`, t.Values)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, '}')

	b = ev.SrcEndpoint.appendJSON(b, `,"src_endpoint":`)
	b = ev.DstEndpoint.appendJSON(b, `,"dst_endpoint":`)
	if r := ev.HTTPRequest; r != nil {
		b = append(b, `,"http_request":{`...)
		n := len(b)
		b = ocsfAppendOptStr(b, `,"uid":`, r.UID)
		b = ocsfAppendOptStr(b, `,"http_method":`, r.HTTPMethod)
		if u := r.URL; u != nil {
			b = append(b, `,"url":{`...)
			nu := len(b)
			b = ocsfAppendOptStr(b, `,"url_string":`, u.URLString)
			b = ocsfAppendOptStr(b, `,"scheme":`, u.Scheme)
			b = ocsfAppendOptStr(b, `,"hostname":`, u.Hostname)
			b = ocsfAppendOptInt(b, `,"port":`, u.Port)
			b = ocsfAppendOptStr(b, `,"path":`, u.Path)
			b = ocsfAppendOptStr(b, `,"query_string":`, u.QueryString)
			b = ocsfDropComma(b, nu)
			b = append(b, '}')
		}
		b = ocsfAppendOptStr(b, `,"version":`, r.Version)
		b = ocsfDropComma(b, n)
		b = append(b, '}')
	}
	if r := ev.HTTPResponse; r != nil {
		b = append(b, `,"http_response":{"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
		b = append(b, '}')
	}
	if r := ev.FirewallRule; r != nil {
		b = ocsfAppendStr(b, `,"firewall_rule":{"uid":`, r.UID)
		b = ocsfAppendStr(b, `,"name":`, r.Name)
		b = ocsfAppendStr(b, `,"condition":`, r.Condition)
		if r.HasMatchDetails {
			b = ocsfAppendStrs(b, `,"match_details":`, r.MatchDetails)
		}
		b = ocsfAppendOptStr(b, `,"match_location":`, r.MatchLocation)
		b = append(b, '}')
	}
	if len(ev.Attacks) > 0 {
		b = append(b, `,"attacks":[`...)
		for i, a := range ev.Attacks {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			n := len(b)
			b = a.Tactic.appendJSON(b, `,"tactic":`)
			b = a.Technique.appendJSON(b, `,"technique":`)
			b = a.SubTechnique.appendJSON(b, `,"sub_technique":`)
			b = ocsfDropComma(b, n)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(ev.Enrichments) > 0 {
		b = append(b, `,"enrichments":[`...)
		for i := range ev.Enrichments {
			e := &ev.Enrichments[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = ocsfAppendStr(b, `{"name":`, e.Name)
			b = ocsfAppendStr(b, `,"value":`, e.Value)
			b = ocsfAppendStr(b, `,"type":`, e.Type)
			b = ocsfAppendStr(b, `,"provider":`, e.Provider)
			b = ocsfAppendStr(b, `,"short_desc":`, e.ShortDesc)
			b = ocsfAppendFields(append(b, `,"data":`...), e.Data)
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

func (e *ocsfEndpoint) appendJSON(b []byte, prefix string) []byte {
	if e == nil {
		return b
	}
	b = append(b, prefix...)
	b = append(b, '{')
	n := len(b)
	b = ocsfAppendOptStr(b, `,"ip":`, e.IP)
	b = ocsfAppendOptStr(b, `,"hostname":`, e.Hostname)
	b = ocsfAppendOptInt(b, `,"port":`, e.Port)
	if e.Country != "" {
		b = ocsfAppendStr(b, `,"location":{"country":`, e.Country)
		b = append(b, '}')
	}
	b = ocsfDropComma(b, n)
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

// ocsfAppendFields writes an object of raw values (keys already sorted, unique).
func ocsfAppendFields(b []byte, fs []ocsfRawField) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = ocsfAppendString(b, f.key)
		b = append(b, ':')
		b = ocsfAppendCompact(b, f.val)
	}
	return append(b, '}')
}

const ocsfHexDigits = "0123456789abcdef"

// ocsfAppendString writes s as a JSON string the way encoding/json does with
// SetEscapeHTML(false): invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are
// escaped, and so are control characters.
func ocsfAppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
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

// ocsfAppendCompact writes a raw JSON value (valid) without insignificant
// whitespace; invalid UTF-8 inside strings becomes U+FFFD, so the output is
// valid UTF-8 whatever the input was.
func ocsfAppendCompact(b, raw []byte) []byte {
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

// ---------------------------------------------------------------------------
// Reading raw JSON (already checked by json.Valid).

// ocsfKind classifies a raw JSON value by its first byte: '"', '{', '[', 't', 'f',
// 'n', '0' (number) or 0 (empty / invalid).
func ocsfKind(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"', '{', '[', 't', 'f', 'n':
			return c
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return '0'
		default:
			return 0
		}
	}
	return 0
}

func ocsfSkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// ocsfSkipString returns the index after the string starting at b[i] ('"'), or -1.
func ocsfSkipString(b []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// ocsfSkipValue returns the index after the value starting at b[i], or -1.
func ocsfSkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return ocsfSkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				k := ocsfSkipString(b, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		for j := i; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
		}
		return len(b)
	}
}

// ocsfEachMember calls fn with the (unescaped) key and the raw value of each
// member of the object raw; false when raw is not an object.
func ocsfEachMember(raw []byte, fn func(key, val []byte)) bool {
	i := ocsfSkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = ocsfSkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) && raw[i] == '"' {
		end := ocsfSkipString(raw, i)
		if end < 0 {
			return false
		}
		key := raw[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(ocsfString(raw[i:end]))
		}
		i = ocsfSkipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = ocsfSkipSpace(raw, i+1)
		vend := ocsfSkipValue(raw, i)
		if vend < 0 {
			return false
		}
		fn(key, raw[i:vend])
		i = ocsfSkipSpace(raw, vend)
		if i < len(raw) && raw[i] == ',' {
			i = ocsfSkipSpace(raw, i+1)
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

// ocsfEachElement calls fn with each raw element of the array raw.
func ocsfEachElement(raw []byte, fn func(el []byte)) {
	i := ocsfSkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return
	}
	i = ocsfSkipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end := ocsfSkipValue(raw, i)
		if end < 0 {
			return
		}
		fn(raw[i:end])
		i = ocsfSkipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = ocsfSkipSpace(raw, i+1)
		}
	}
}

// ocsfString decodes a raw JSON string (ocsfKind '"').
func ocsfString(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func ocsfNonEmptyString(raw []byte) (string, bool) {
	if ocsfKind(raw) != '"' {
		return "", false
	}
	s := ocsfString(raw)
	return s, s != ""
}

// ocsfTextOf is a raw value as text: a string's content, else compact JSON.
func ocsfTextOf(raw []byte) string {
	if ocsfKind(raw) == '"' {
		return ocsfString(raw)
	}
	return ocsfCompactText(raw)
}

func ocsfCompactText(raw []byte) string {
	return string(ocsfAppendCompact(nil, raw))
}

// ocsfValidIP accepts what OCSF's ip_t accepts and Go can parse: IPv4 and IPv6
// (with an optional zone), at most 40 characters.
func ocsfValidIP(s string) bool {
	if len(s) > 40 {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return !a.Is4() || !strings.Contains(s, "%")
}

// ocsfHTTPVersion recognises "HTTP/1.1", "http/2", "1.0", "HTTP/3.0"... and
// returns the version number as written.
func ocsfHTTPVersion(raw []byte) (string, bool) {
	s, ok := ocsfNonEmptyString(raw)
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

// ocsfStatusCode accepts an integral JSON number or a string of digits in 0..999.
func ocsfStatusCode(raw []byte) (int, bool) {
	var s string
	switch ocsfKind(raw) {
	case '0':
		s = string(bytes.TrimSpace(raw))
	case '"':
		s = ocsfString(raw)
	default:
		return 0, false
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 0 && n <= 999 && (ocsfKind(raw) == '0' || s == strconv.Itoa(n)) {
			return n, true
		}
		return 0, false
	}
	if ocsfKind(raw) != '0' {
		return 0, false
	}
	fl, err := strconv.ParseFloat(s, 64)
	if err != nil || fl != math.Trunc(fl) || fl < 0 || fl > 999 {
		return 0, false
	}
	return int(fl), true
}
