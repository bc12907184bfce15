package registry

import (
	"errors"
	"time"

	"github.com/hitexport/hitexport/integrations"
)

// DefaultID and DefaultName name the one integration of the env registry.
const (
	DefaultID   = "default"
	DefaultName = "default"
)

// EnvConfig is the one integration the HITEXPORT_S3_*, FORMAT, COMPRESSION,
// KEY_PREFIX and KAFKA_TOPIC settings define.
type EnvConfig struct {
	Endpoint, Bucket, Region string
	AccessKey, SecretKey     string
	TLS                      bool
	CAPEM                    string // the contents of HITEXPORT_S3_CA_FILE
	// HITEXPORT_S3_SSE, HITEXPORT_S3_SSE_KMS_KEY_ID, HITEXPORT_S3_ROLE_ARN,
	// HITEXPORT_S3_EXTERNAL_ID, HITEXPORT_S3_ROLE_SESSION_NAME and
	// HITEXPORT_S3_STS_ENDPOINT.
	SSE, SSEKMSKeyID    string
	RoleARN, ExternalID string
	RoleSessionName     string
	STSEndpoint         string
	Format, Compression string
	KeyPrefix           string
	Topic               string
}

// NewEnv returns the read-only registry holding the integration "default"
// built from c. It starts at the earliest offset (as the exporter did
// before integrations: a new consumer group reads the topic from its
// start). The endpoint, bucket, region and key prefix keep the checks of
// the configuration package (which allow more than the API's stricter
// rules), so every existing setup keeps working. SetDisabled works in memory: the auto-disabled state lasts until
// the process restarts.
func NewEnv(c EnvConfig) (*Memory, error) {
	now := time.Now().UTC()
	it := integrations.Integration{
		ID: DefaultID, Name: DefaultName, Enabled: true,
		Destination: integrations.Destination{Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region,
			AccessKey: c.AccessKey, SecretKey: c.SecretKey, TLS: c.TLS, CAPEM: c.CAPEM,
			SSE: c.SSE, SSEKMSKeyID: c.SSEKMSKeyID, RoleARN: c.RoleARN, ExternalID: c.ExternalID,
			RoleSessionName: c.RoleSessionName, STSEndpoint: c.STSEndpoint},
		Format: c.Format, Compression: c.Compression, KeyPrefix: c.KeyPrefix,
		Filter: integrations.Filter{Topic: c.Topic}, Start: "earliest",
		CreatedAt: now, UpdatedAt: now,
	}
	it.ApplyDefaults(integrations.Defaults{Topic: c.Topic})
	if err := it.Validate(); err != nil {
		var fe *integrations.FieldError
		if !errors.As(err, &fe) || !lenientEnvFields[fe.Field] {
			return nil, err
		}
	}
	m := NewMemory(it)
	m.readOnly = true
	return m, nil
}

// lenientEnvFields are checked by the configuration package with its own
// (older, looser) rules; the env registry does not refuse them again.
// (HITEXPORT_S3_ROLE_SESSION_NAME is only checked there with a role.)
var lenientEnvFields = map[string]bool{
	"destination.endpoint": true, "destination.bucket": true, "destination.region": true, "key_prefix": true,
	"destination.role_session_name": true,
}
