package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hitexport/hitexport/integrations"
)

// RecordVersion is the version of the Kafka registry's values this build
// writes ("v" in the JSON value). Decode refuses other versions: a replica
// that meets a newer record keeps the last value it could read for that key
// and logs it.
const RecordVersion = 1

// recordV1 is the value of a registry record: the integration with its
// secrets sealed (access_key and secret_key never appear in clear text).
type recordV1 struct {
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
}

func aad(id, field string) []byte { return []byte("hitexport/registry/v1/" + id + "/" + field) }

// EncodeRecord returns the registry value of it, secrets sealed by kr.
func EncodeRecord(it integrations.Integration, kr *Keyring) ([]byte, error) {
	if kr == nil {
		return nil, errors.New("no secrets key (HITEXPORT_SECRETS_KEY_FILE)")
	}
	d := it.Destination
	r := recordV1{V: RecordVersion, ID: it.ID, Name: it.Name, Enabled: it.Enabled,
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
	if head.V != RecordVersion {
		return integrations.Integration{}, fmt.Errorf("registry record: version %d, this build reads version %d (a newer hitexport wrote it?)", head.V, RecordVersion)
	}
	var r recordV1
	if err := json.Unmarshal(b, &r); err != nil {
		return integrations.Integration{}, fmt.Errorf("registry record: %v", err)
	}
	it := integrations.Integration{ID: r.ID, Name: r.Name, Enabled: r.Enabled,
		Destination: integrations.Destination{Endpoint: r.Destination.Endpoint, Bucket: r.Destination.Bucket, Region: r.Destination.Region,
			TLS: r.Destination.TLS, CAPEM: r.Destination.CAPEM},
		Format: r.Format, Compression: r.Compression, KeyPrefix: r.KeyPrefix, Filter: r.Filter, Start: r.Start, NotifyURL: r.NotifyURL,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DisabledBy: r.DisabledBy, DisabledReason: r.DisabledReason}
	if r.DisabledAt != nil {
		it.DisabledAt = *r.DisabledAt
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
	return it, nil
}
