package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hitexport/hitexport/integrations"
)

// RecordVersion is the newest version of the Kafka registry's values this
// build reads and writes ("v" in the JSON value). Decode refuses other
// versions: a replica that meets a newer record keeps the last value it
// could read for that key and logs it.
//
// Version 2 adds the destination's server-side encryption and AssumeRole
// settings. A record is written as version 1 while it uses none of them
// (sse none, no role), so replicas of a build before them keep reading it;
// one that uses them is written as version 2, which such a replica refuses
// rather than writing without the encryption or the role asked for.
const RecordVersion = 2

// record is the value of a registry record: the integration with its
// secrets sealed (access_key, secret_key and external_id never appear in
// clear text).
type record struct {
	V              int                 `json:"v"`
	ID             string              `json:"id"`
	Name           string              `json:"name"`
	Enabled        bool                `json:"enabled"`
	Destination    recordDestination   `json:"destination"`
	Format         string              `json:"format"`
	Compression    string              `json:"compression"`
	KeyPrefix      string              `json:"key_prefix,omitempty"`
	Filter         integrations.Filter `json:"filter"`
	Start          string              `json:"start"`
	NotifyURL      string              `json:"notify_url,omitempty"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	DisabledBy     string              `json:"disabled_by,omitempty"`
	DisabledReason string              `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time          `json:"disabled_at,omitempty"`
}

type recordDestination struct {
	Endpoint  string  `json:"endpoint"`
	Bucket    string  `json:"bucket"`
	Region    string  `json:"region"`
	AccessKey *Sealed `json:"access_key_sealed,omitempty"`
	SecretKey *Sealed `json:"secret_key_sealed,omitempty"`
	TLS       bool    `json:"tls"`
	CAPEM     string  `json:"ca_pem,omitempty"`
	// Version 2.
	SSE             string  `json:"sse,omitempty"`
	SSEKMSKeyID     string  `json:"sse_kms_key_id,omitempty"`
	RoleARN         string  `json:"role_arn,omitempty"`
	ExternalID      *Sealed `json:"external_id_sealed,omitempty"`
	RoleSessionName string  `json:"role_session_name,omitempty"`
	STSEndpoint     string  `json:"sts_endpoint,omitempty"`
}

// usesV2 says whether d needs a version 2 record: a setting a version 1
// reader would silently drop.
func usesV2(d integrations.Destination) bool {
	return (d.SSE != "" && d.SSE != integrations.SSENone) || d.SSEKMSKeyID != "" || d.RoleARN != "" ||
		d.ExternalID != "" || d.STSEndpoint != "" || (d.RoleSessionName != "" && d.RoleSessionName != integrations.DefaultRoleSessionName)
}

func aad(id, field string) []byte { return []byte("hitexport/registry/v1/" + id + "/" + field) }

// EncodeRecord returns the registry value of it, secrets sealed by kr.
func EncodeRecord(it integrations.Integration, kr *Keyring) ([]byte, error) {
	if kr == nil {
		return nil, errors.New("no secrets key (HITEXPORT_SECRETS_KEY_FILE)")
	}
	d := it.Destination
	r := record{V: 1, ID: it.ID, Name: it.Name, Enabled: it.Enabled,
		Destination: recordDestination{Endpoint: d.Endpoint, Bucket: d.Bucket, Region: d.Region, TLS: d.TLS, CAPEM: d.CAPEM},
		Format:      it.Format, Compression: it.Compression, KeyPrefix: it.KeyPrefix, Filter: it.Filter, Start: it.Start,
		NotifyURL: it.NotifyURL, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, DisabledBy: it.DisabledBy, DisabledReason: it.DisabledReason}
	if !it.DisabledAt.IsZero() {
		t := it.DisabledAt
		r.DisabledAt = &t
	}
	if d.AccessKey != "" {
		s := kr.Seal([]byte(d.AccessKey), aad(it.ID, "access_key"))
		r.Destination.AccessKey = &s
	}
	if d.SecretKey != "" {
		s := kr.Seal([]byte(d.SecretKey), aad(it.ID, "secret_key"))
		r.Destination.SecretKey = &s
	}
	if usesV2(d) {
		r.V = 2
		r.Destination.SSE, r.Destination.SSEKMSKeyID, r.Destination.RoleARN = d.SSE, d.SSEKMSKeyID, d.RoleARN
		r.Destination.RoleSessionName, r.Destination.STSEndpoint = d.RoleSessionName, d.STSEndpoint
		if d.ExternalID != "" {
			s := kr.Seal([]byte(d.ExternalID), aad(it.ID, "external_id"))
			r.Destination.ExternalID = &s
		}
	}
	return json.Marshal(r)
}

// DecodeRecord reads a registry value, opening its secrets with kr. Errors
// never contain a secret.
func DecodeRecord(b []byte, kr *Keyring) (integrations.Integration, error) {
	var head struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return integrations.Integration{}, fmt.Errorf("registry record: not JSON: %v", err)
	}
	if head.V < 1 || head.V > RecordVersion {
		return integrations.Integration{}, fmt.Errorf("registry record: version %d, this build reads versions 1 to %d (a newer hitexport wrote it?)", head.V, RecordVersion)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return integrations.Integration{}, fmt.Errorf("registry record: %v", err)
	}
	it := integrations.Integration{ID: r.ID, Name: r.Name, Enabled: r.Enabled,
		Destination: integrations.Destination{Endpoint: r.Destination.Endpoint, Bucket: r.Destination.Bucket, Region: r.Destination.Region,
			TLS: r.Destination.TLS, CAPEM: r.Destination.CAPEM, SSE: r.Destination.SSE, SSEKMSKeyID: r.Destination.SSEKMSKeyID,
			RoleARN: r.Destination.RoleARN, RoleSessionName: r.Destination.RoleSessionName, STSEndpoint: r.Destination.STSEndpoint},
		Format: r.Format, Compression: r.Compression, KeyPrefix: r.KeyPrefix, Filter: r.Filter, Start: r.Start, NotifyURL: r.NotifyURL,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DisabledBy: r.DisabledBy, DisabledReason: r.DisabledReason}
	if r.DisabledAt != nil {
		it.DisabledAt = *r.DisabledAt
	}
	// Version 1 records (and version 2 ones without them) hold no sse and
	// session name: their defaults.
	if it.Destination.SSE == "" {
		it.Destination.SSE = integrations.DefaultSSE
	}
	if it.Destination.RoleSessionName == "" {
		it.Destination.RoleSessionName = integrations.DefaultRoleSessionName
	}
	if s := r.Destination.AccessKey; s != nil {
		if kr == nil {
			return it, errors.New("registry record: sealed secrets and no secrets key (HITEXPORT_SECRETS_KEY_FILE)")
		}
		p, err := kr.Open(*s, aad(r.ID, "access_key"))
		if err != nil {
			return it, fmt.Errorf("integration %s: destination.access_key: %w", r.ID, err)
		}
		it.Destination.AccessKey = string(p)
	}
	if s := r.Destination.SecretKey; s != nil {
		if kr == nil {
			return it, errors.New("registry record: sealed secrets and no secrets key (HITEXPORT_SECRETS_KEY_FILE)")
		}
		p, err := kr.Open(*s, aad(r.ID, "secret_key"))
		if err != nil {
			return it, fmt.Errorf("integration %s: destination.secret_key: %w", r.ID, err)
		}
		it.Destination.SecretKey = string(p)
	}
	if s := r.Destination.ExternalID; s != nil {
		if kr == nil {
			return it, errors.New("registry record: sealed secrets and no secrets key (HITEXPORT_SECRETS_KEY_FILE)")
		}
		p, err := kr.Open(*s, aad(r.ID, "external_id"))
		if err != nil {
			return it, fmt.Errorf("integration %s: destination.external_id: %w", r.ID, err)
		}
		it.Destination.ExternalID = string(p)
	}
	return it, nil
}
