package integrations

import (
	"encoding/json"
	"time"
)

// Resume values of Patch.Resume.
const (
	ResumeStopped = "stopped"
	ResumeLatest  = "latest"
)

// Patch is the input form of the resource: the body of POST (create, test)
// and PATCH. Omitted fields (nil) keep their value (PATCH) or take their
// default (create). The read-only fields of the output form (id, status,
// created_at, updated_at, destination.credentials_set) are accepted and
// ignored, so a GET body can be sent back.
type Patch struct {
	Name        *string           `json:"name,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"`
	Destination *DestinationPatch `json:"destination,omitempty"`
	Format      *string           `json:"format,omitempty"`
	Compression *string           `json:"compression,omitempty"`
	KeyPrefix   *string           `json:"key_prefix,omitempty"`
	Filter      *FilterPatch      `json:"filter,omitempty"`
	Start       *string           `json:"start,omitempty"`
	NotifyURL   *string           `json:"notify_url,omitempty"`
	// Resume is only valid in a PATCH with enabled: true: "stopped" (the
	// default) resumes where the integration stopped, "latest" from now.
	Resume *string `json:"resume,omitempty"`

	// Read-only fields, ignored.
	ID        json.RawMessage `json:"id,omitempty"`
	Status    json.RawMessage `json:"status,omitempty"`
	CreatedAt json.RawMessage `json:"created_at,omitempty"`
	UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
}

// DestinationPatch is the input form of Destination. An empty or omitted
// access_key/secret_key/external_id keeps the stored secret.
//
// A PATCH that sets sse to none or s3 without giving sse_kms_key_id drops
// the stored KMS key id; one that sets role_arn to "" drops the role's
// external_id and sts_endpoint unless it gives them (the only way to remove
// a stored external id: remove the role, then set it again without one).
type DestinationPatch struct {
	Endpoint        *string `json:"endpoint,omitempty"`
	Bucket          *string `json:"bucket,omitempty"`
	Region          *string `json:"region,omitempty"`
	AccessKey       *string `json:"access_key,omitempty"`
	SecretKey       *string `json:"secret_key,omitempty"`
	TLS             *bool   `json:"tls,omitempty"`
	CAPEM           *string `json:"ca_pem,omitempty"`
	SSE             *string `json:"sse,omitempty"`
	SSEKMSKeyID     *string `json:"sse_kms_key_id,omitempty"`
	RoleARN         *string `json:"role_arn,omitempty"`
	ExternalID      *string `json:"external_id,omitempty"`
	RoleSessionName *string `json:"role_session_name,omitempty"`
	STSEndpoint     *string `json:"sts_endpoint,omitempty"`

	// Read-only, ignored.
	CredentialsSet json.RawMessage `json:"credentials_set,omitempty"`
	ExternalIDSet  json.RawMessage `json:"external_id_set,omitempty"`
}

// FilterPatch is the input form of Filter. Match, when present (even as
// null or {}), replaces the whole match map.
type FilterPatch struct {
	Topic *string         `json:"topic,omitempty"`
	Match json.RawMessage `json:"match,omitempty"`
}

// Defaults are the deployment's defaults for new integrations.
type Defaults struct {
	// Topic is filter.topic when omitted (HITEXPORT_KAFKA_TOPIC).
	Topic string
}

// New builds a new integration from a create body: defaults for omitted
// fields, a new id, timestamps at now, then Validate (including that both
// secrets are set). Errors are *FieldError.
func New(p Patch, d Defaults, now time.Time) (Integration, error) {
	if p.Resume != nil {
		return Integration{}, fieldErr("resume", "only valid in a PATCH with enabled: true")
	}
	it := Integration{ID: NewID(), Enabled: true, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
	if err := it.apply(p, now); err != nil {
		return Integration{}, err
	}
	it.ApplyDefaults(d)
	if err := it.Validate(); err != nil {
		return Integration{}, err
	}
	return it, nil
}

// Apply returns it with the PATCH p applied (omitted fields keep their
// values; empty secrets keep the stored ones), UpdatedAt at now, validated.
// A change of enabled records who disabled it (the user) and when. The
// caller handles p.Resume (it is checked here: only with enabled: true).
func (it Integration) Apply(p Patch, d Defaults, now time.Time) (Integration, error) {
	it = it.Clone()
	if p.Resume != nil {
		switch *p.Resume {
		case ResumeStopped, ResumeLatest:
		default:
			return Integration{}, fieldErr("resume", "unknown value: accepted stopped, latest")
		}
		if p.Enabled == nil || !*p.Enabled {
			return Integration{}, fieldErr("resume", "only valid with enabled: true")
		}
	}
	if err := it.apply(p, now); err != nil {
		return Integration{}, err
	}
	it.ApplyDefaults(d)
	it.UpdatedAt = now.UTC()
	if err := it.Validate(); err != nil {
		return Integration{}, err
	}
	return it, nil
}

func (it *Integration) apply(p Patch, now time.Time) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = trimmed(*src)
		}
	}
	set(&it.Name, p.Name)
	if p.Enabled != nil {
		switch {
		case *p.Enabled && !it.Enabled:
			it.SetEnabled(true, "", "", now)
		case !*p.Enabled && (it.Enabled || it.DisabledBy != DisabledByUser):
			// Disabling an auto-disabled integration makes it the user's.
			it.SetEnabled(false, DisabledByUser, "disabled by the user", now)
		}
	}
	if dp := p.Destination; dp != nil {
		d := &it.Destination
		set(&d.Endpoint, dp.Endpoint)
		set(&d.Bucket, dp.Bucket)
		set(&d.Region, dp.Region)
		if dp.AccessKey != nil && *dp.AccessKey != "" {
			d.AccessKey = *dp.AccessKey
		}
		if dp.SecretKey != nil && *dp.SecretKey != "" {
			d.SecretKey = *dp.SecretKey
		}
		if dp.TLS != nil {
			d.TLS = *dp.TLS
		}
		if dp.CAPEM != nil {
			d.CAPEM = *dp.CAPEM
		}
		set(&d.SSE, dp.SSE)
		if dp.SSE != nil && d.SSE != SSEKMS && dp.SSEKMSKeyID == nil {
			d.SSEKMSKeyID = "" // the key id only applies to kms
		}
		set(&d.SSEKMSKeyID, dp.SSEKMSKeyID)
		set(&d.RoleARN, dp.RoleARN)
		if dp.RoleARN != nil && d.RoleARN == "" {
			// No role: its external id and STS endpoint go with it
			// (unless given: then validation names them).
			d.ExternalID = ""
			if dp.STSEndpoint == nil {
				d.STSEndpoint = ""
			}
		}
		if dp.ExternalID != nil && *dp.ExternalID != "" {
			d.ExternalID = *dp.ExternalID
		}
		set(&d.RoleSessionName, dp.RoleSessionName)
		set(&d.STSEndpoint, dp.STSEndpoint)
	}
	set(&it.Format, p.Format)
	set(&it.Compression, p.Compression)
	if p.KeyPrefix != nil {
		it.KeyPrefix = *p.KeyPrefix
	}
	if fp := p.Filter; fp != nil {
		set(&it.Filter.Topic, fp.Topic)
		if len(fp.Match) > 0 {
			var m map[string][]json.RawMessage
			if err := json.Unmarshal(fp.Match, &m); err != nil {
				return fieldErr("filter.match", "must be an object mapping a hit field to a list of JSON values, e.g. {\"application_id\": [1, 2]}")
			}
			if len(m) == 0 {
				m = nil
			}
			it.Filter.Match = m
		}
	}
	set(&it.Start, p.Start)
	set(&it.NotifyURL, p.NotifyURL)
	return nil
}

// ApplyDefaults fills the optional fields left empty.
func (it *Integration) ApplyDefaults(d Defaults) {
	if it.Destination.Region == "" {
		it.Destination.Region = DefaultRegion
	}
	if it.Destination.SSE == "" {
		it.Destination.SSE = DefaultSSE
	}
	if it.Destination.RoleSessionName == "" {
		it.Destination.RoleSessionName = DefaultRoleSessionName
	}
	if it.Format == "" {
		it.Format = DefaultFormat
	}
	if it.Compression == "" {
		it.Compression = DefaultCompression
	}
	if it.Start == "" {
		it.Start = DefaultStart
	}
	if it.Filter.Topic == "" {
		it.Filter.Topic = d.Topic
	}
}
