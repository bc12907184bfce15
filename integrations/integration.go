// Package integrations defines the integration resource of hitexport: one
// customer's destination (an S3 bucket), its output settings and the filter
// that selects which hits it receives. It holds the types the admin API, the
// registries and the data plane share, their defaults and validation, the
// state model and the filter matcher.
//
// Secrets (destination.access_key, destination.secret_key and
// destination.external_id) are write-only: Integration keeps them, but its
// JSON form never contains them (Destination's MarshalJSON writes
// credentials_set and external_id_set instead), and its String, GoString
// and LogValue forms redact them. Registries store them with their own
// codecs (the Kafka registry seals them).
package integrations

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Disabled-by values, persisted with a disabled integration.
const (
	DisabledByUser = "user"
	DisabledByAuto = "auto"
)

// States of an integration (Status.State).
const (
	StateActive       = "active"
	StateDisabled     = "disabled"
	StateFailing      = "failing"
	StateAutoDisabled = "auto_disabled"
)

// Defaults of the optional fields.
const (
	DefaultRegion      = "us-east-1"
	DefaultFormat      = "ndjson"
	DefaultCompression = "none"
	DefaultStart       = "latest"
	// DefaultSSE: no server-side encryption asked for (the bucket's default
	// applies).
	DefaultSSE = SSENone
	// DefaultRoleSessionName is the STS session name of an assumed role.
	DefaultRoleSessionName = "hitexport"
)

// Values of Destination.SSE (the store's S3Options.SSE values).
const (
	SSENone = "none"
	SSES3   = "s3"
	SSEKMS  = "kms"
)

// Integration is one destination with its settings, as the registries keep
// it (secrets included). Its JSON form is the admin API's resource without
// secrets; Status is filled only for output.
type Integration struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Enabled     bool        `json:"enabled"`
	Destination Destination `json:"destination"`
	Format      string      `json:"format"`
	Compression string      `json:"compression"`
	KeyPrefix   string      `json:"key_prefix"`
	Filter      Filter      `json:"filter"`
	Start       string      `json:"start"`
	NotifyURL   string      `json:"notify_url"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`

	// Persisted state of a disabled integration: who disabled it (user or
	// auto), why, and when. Empty while enabled. Not part of the JSON
	// resource: status.state and status.reason show them.
	DisabledBy     string    `json:"-"`
	DisabledReason string    `json:"-"`
	DisabledAt     time.Time `json:"-"`

	// Status is the read-only status, set for output (ignored on input).
	Status *Status `json:"status,omitempty"`
}

// Destination is where an integration's objects go.
type Destination struct {
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	Region   string `json:"region"`
	// AccessKey and SecretKey are write-only: never in the JSON output.
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
	TLS       bool   `json:"tls"`
	CAPEM     string `json:"ca_pem"`

	// SSE is the server-side encryption asked for on every write: none
	// (default), s3 (SSE-S3) or kms (SSE-KMS, with SSEKMSKeyID or the
	// bucket's default KMS key).
	SSE         string `json:"sse"`
	SSEKMSKeyID string `json:"sse_kms_key_id"`
	// RoleARN, when set, makes the exporter write with the temporary
	// credentials of that role (STS AssumeRole, obtained with the access
	// and secret keys). ExternalID is write-only (the customer's shared
	// value of the confused-deputy pattern): never in the JSON output.
	// STSEndpoint is the STS URL (empty: https://sts.<region>.amazonaws.com).
	RoleARN         string `json:"role_arn"`
	ExternalID      string `json:"external_id,omitempty"`
	RoleSessionName string `json:"role_session_name"`
	STSEndpoint     string `json:"sts_endpoint"`

	// credsRedacted: Redacted removed a complete pair of secrets
	// (credentials_set stays true). extIDRedacted: the same for the
	// external id (external_id_set stays true).
	credsRedacted bool
	extIDRedacted bool
}

// DestinationView is Destination's output form: no secrets, credentials_set
// and external_id_set instead.
type DestinationView struct {
	Endpoint        string `json:"endpoint"`
	Bucket          string `json:"bucket"`
	Region          string `json:"region"`
	TLS             bool   `json:"tls"`
	CAPEM           string `json:"ca_pem"`
	CredentialsSet  bool   `json:"credentials_set"`
	SSE             string `json:"sse"`
	SSEKMSKeyID     string `json:"sse_kms_key_id"`
	RoleARN         string `json:"role_arn"`
	ExternalIDSet   bool   `json:"external_id_set"`
	RoleSessionName string `json:"role_session_name"`
	STSEndpoint     string `json:"sts_endpoint"`
}

// View returns the output form of d.
func (d Destination) View() DestinationView {
	return DestinationView{Endpoint: d.Endpoint, Bucket: d.Bucket, Region: d.Region, TLS: d.TLS, CAPEM: d.CAPEM,
		CredentialsSet: d.AccessKey != "" && d.SecretKey != "" || d.credsRedacted,
		SSE:            d.SSE, SSEKMSKeyID: d.SSEKMSKeyID, RoleARN: d.RoleARN,
		ExternalIDSet:   d.ExternalID != "" || d.extIDRedacted,
		RoleSessionName: d.RoleSessionName, STSEndpoint: d.STSEndpoint}
}

// MarshalJSON writes the output form: secrets are never marshalled.
func (d Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.View()) }

// UnmarshalJSON reads both forms: the stored one (with secrets) and the
// output one (credentials_set and external_id_set, kept so that a decoded
// GET body still says whether they are set).
func (d *Destination) UnmarshalJSON(b []byte) error {
	type plain Destination
	var aux struct {
		plain
		CredentialsSet bool `json:"credentials_set"`
		ExternalIDSet  bool `json:"external_id_set"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*d = Destination(aux.plain)
	d.credsRedacted = aux.CredentialsSet
	d.extIDRedacted = aux.ExternalIDSet
	return nil
}

// String redacts the secrets.
func (d Destination) String() string {
	v := d.View()
	s := fmt.Sprintf("{endpoint:%s bucket:%s region:%s tls:%t credentials_set:%t", d.Endpoint, d.Bucket, d.Region, d.TLS, v.CredentialsSet)
	if d.SSE != "" && d.SSE != SSENone {
		s += " sse:" + d.SSE
	}
	if d.RoleARN != "" {
		s += fmt.Sprintf(" role_arn:%s external_id_set:%t", d.RoleARN, v.ExternalIDSet)
	}
	return s + "}"
}

// GoString redacts the secrets (for %#v).
func (d Destination) GoString() string { return "integrations.Destination" + d.String() }

// LogValue redacts the secrets (log/slog).
func (d Destination) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("endpoint", d.Endpoint), slog.String("bucket", d.Bucket),
		slog.Bool("tls", d.TLS), slog.Bool("credentials_set", d.View().CredentialsSet)}
	if d.SSE != "" && d.SSE != SSENone {
		attrs = append(attrs, slog.String("sse", d.SSE))
	}
	if d.RoleARN != "" {
		attrs = append(attrs, slog.String("role_arn", d.RoleARN), slog.Bool("external_id_set", d.View().ExternalIDSet))
	}
	return slog.GroupValue(attrs...)
}

// LogValue is the integration for log/slog: id, name and destination
// without secrets.
func (it Integration) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", it.ID), slog.String("name", it.Name), slog.Any("destination", it.Destination))
}

// Filter selects the hits an integration receives: the hits of Topic whose
// top-level fields match Match (see Matcher for the semantics). An empty
// Match selects every hit of the topic.
type Filter struct {
	Topic string                       `json:"topic"`
	Match map[string][]json.RawMessage `json:"match,omitempty"`
}

// Status is the read-only status of the resource: the persisted state plus
// the data plane's runtime view.
type Status struct {
	State             string     `json:"state"`
	Reason            string     `json:"reason"`
	LastDelivery      *Delivery  `json:"last_delivery"`
	LastError         *ErrorInfo `json:"last_error"`
	FailureRatio      float64    `json:"failure_ratio"`
	LagRecords        int64      `json:"lag_records"`
	OldestUndelivered *time.Time `json:"oldest_undelivered"`
	LostRecords       int64      `json:"lost_records"`
}

// Delivery is the last object delivered.
type Delivery struct {
	Time time.Time `json:"time"`
	Key  string    `json:"key"`
}

// Error classes of ErrorInfo.Class.
const (
	ClassAuth        = "auth"
	ClassPermission  = "permission"
	ClassNotFound    = "not_found"
	ClassNetwork     = "network"
	ClassTimeout     = "timeout"
	ClassRateLimited = "rate_limited"
	ClassOther       = "other"
)

// ErrorInfo is the last delivery error, classified.
type ErrorInfo struct {
	Time    time.Time `json:"time"`
	Class   string    `json:"class"`
	Message string    `json:"message"`
}

// RuntimeStatus is what the data plane knows of an integration on this
// replica. Failing: the last upload attempt failed or the integration is
// parked; FailingReason says why (human text).
type RuntimeStatus struct {
	Failing           bool
	FailingReason     string
	LastDelivery      *Delivery
	LastError         *ErrorInfo
	FailureRatio      float64
	LagRecords        int64
	OldestUndelivered *time.Time
	LostRecords       int64
}

// ComputeStatus combines the persisted state of it with the runtime status
// (rt, when known): auto_disabled when disabled by auto, disabled when
// disabled otherwise, failing when enabled and the runtime says so, active
// otherwise.
func ComputeStatus(it Integration, rt RuntimeStatus, known bool) Status {
	st := Status{State: StateActive}
	if known {
		st.LastDelivery, st.LastError = rt.LastDelivery, rt.LastError
		st.FailureRatio, st.LagRecords, st.OldestUndelivered, st.LostRecords = rt.FailureRatio, rt.LagRecords, rt.OldestUndelivered, rt.LostRecords
	}
	switch {
	case !it.Enabled && it.DisabledBy == DisabledByAuto:
		st.State, st.Reason = StateAutoDisabled, it.DisabledReason
	case !it.Enabled:
		st.State, st.Reason = StateDisabled, it.DisabledReason
	case known && rt.Failing:
		st.State, st.Reason = StateFailing, rt.FailingReason
		if st.Reason == "" && rt.LastError != nil {
			st.Reason = rt.LastError.Message
		}
	}
	return st
}

// WithStatus returns a copy of it carrying st, for output.
func (it Integration) WithStatus(st Status) Integration {
	it.Status = &st
	return it
}

// Redacted returns a copy of it without secrets (the JSON form never has
// them; this clears the fields themselves, e.g. before handing a value to
// code that must not see them). Its credentials_set and external_id_set
// stay as they were.
func (it Integration) Redacted() Integration {
	v := it.Destination.View()
	it.Destination.credsRedacted, it.Destination.extIDRedacted = v.CredentialsSet, v.ExternalIDSet
	it.Destination.AccessKey, it.Destination.SecretKey, it.Destination.ExternalID = "", "", ""
	return it
}

// SetEnabled enables it, or disables it by `by` (DisabledByUser or
// DisabledByAuto) with a reason, at now.
func (it *Integration) SetEnabled(enabled bool, by, reason string, now time.Time) {
	it.Enabled = enabled
	if enabled {
		it.DisabledBy, it.DisabledReason, it.DisabledAt = "", "", time.Time{}
		return
	}
	if by == "" {
		by = DisabledByUser
	}
	it.DisabledBy, it.DisabledReason, it.DisabledAt = by, reason, now.UTC()
}

// IDPrefix starts every server-made id.
const IDPrefix = "itg-"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new random id: "itg-" and 10 lower-case base32 characters
// (50 random bits), URL-safe.
func NewID() string {
	var b [7]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("integrations: no randomness: " + err.Error())
	}
	return IDPrefix + idEncoding.EncodeToString(b[:])[:10]
}

// Clone returns a deep copy of it (the match map and its slices are not
// shared).
func (it Integration) Clone() Integration {
	if it.Filter.Match != nil {
		m := make(map[string][]json.RawMessage, len(it.Filter.Match))
		for k, vs := range it.Filter.Match {
			cp := make([]json.RawMessage, len(vs))
			for i, v := range vs {
				cp[i] = append(json.RawMessage(nil), v...)
			}
			m[k] = cp
		}
		it.Filter.Match = m
	}
	if it.Status != nil {
		st := *it.Status
		it.Status = &st
	}
	return it
}

// trimmed is strings.TrimSpace, named for the input normalisation.
func trimmed(s string) string { return strings.TrimSpace(s) }
