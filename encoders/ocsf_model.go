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
