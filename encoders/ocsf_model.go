package encoders

// The OCSF event the mapping fills and appendJSON writes (ocsf_json.go), in
// this field order.

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

	// Plain are the string fields known to be plain text (printable
	// ASCII, or text made of such and constants, without '"' or '\\'):
	// appendJSON writes them between quotes without looking at their bytes.
	// A field not in the set is written with ocsfAppendString.
	Plain ocsfEvBits

	topic *ocsfTopicFrags // Metadata.Topic's members written out, when it has one
}

// ocsfTopicFrags are the members of metadata the topic makes, written out:
// uid is original_event_uid up to the partition (`,"original_event_uid":"topic/`),
// log is `,"log_provider":"Kafka","log_name":"topic"`.
type ocsfTopicFrags struct {
	topic    string
	uid, log []byte
}

// ocsfEvBits is a set of the event's string fields.
type ocsfEvBits uint32

const (
	evMessage   ocsfEvBits = 1 << iota
	evUID                  // metadata.uid and http_request.uid
	evOrigTime             // metadata.original_time
	evSrcIP                // src_endpoint.ip and the enrichment's value
	evCountry              // src_endpoint.location.country
	evDstHost              // dst_endpoint.hostname
	evMethod               // http_request.http_method
	evVersion              // http_request.version
	evURLString            // url.url_string
	evScheme               // url.scheme
	evURLHost              // url.hostname
	evPath                 // url.path
	evQuery                // url.query_string
	evRule                 // firewall_rule.uid and condition
	evRuleName             // firewall_rule.name
	evMatchLoc             // firewall_rule.match_location
)

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
	// NamePlain, ValuePlain: Name, Value are plain text (see ocsfEvent.Plain).
	NamePlain, ValuePlain bool
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
	MatchDetailsPlain    uint64 // bit i: MatchDetails[i] is plain text (see ocsfEvent.Plain)
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
	// keyPlain: key is plain text (ocsfSkipStr), written as it is; valPlain:
	// val is a plain string token (so also compact).
	keyPlain, valPlain bool
}
