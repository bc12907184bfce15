package registry

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Keyring holds the AES-256 keys that seal secrets in the Kafka registry.
// The first key seals; every key opens. Each key is known by its id: the
// first 8 hex characters of the SHA-256 of the key.
//
// Key file (HITEXPORT_SECRETS_KEY_FILE): either exactly 32 raw bytes (one
// key), or text with one key per line as 64 hex characters (blank lines and
// lines starting with # are ignored). Rotation: add the new key as the
// first line and keep the old ones below it; new writes are sealed under the
// new key, old values still open. Rewrite every integration (a PATCH of any
// field re-seals) before removing an old key.
type Keyring struct {
	keys []sealKey
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

// KeyID is the id of a key: the first 8 hex characters of its SHA-256.
func KeyID(key []byte) string {
	s := sha256.Sum256(key)
	return hex.EncodeToString(s[:4])
}

// NewKeyring returns a keyring of keys (each 32 bytes); keys[0] seals.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no key")
	}
	kr := &Keyring{}
	seen := map[string]bool{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("key %d: %d bytes, want 32 (AES-256)", i+1, len(k))
		}
		id := KeyID(k)
		if seen[id] {
			return nil, fmt.Errorf("key %d: the key %s is listed twice", i+1, id)
		}
		seen[id] = true
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		kr.keys = append(kr.keys, sealKey{id: id, aead: aead})
	}
	return kr, nil
}

// ParseKeyring reads a key file's contents (see Keyring).
func ParseKeyring(data []byte) (*Keyring, error) {
	if len(data) == 32 && !isHexText(data) {
		return NewKeyring(data)
	}
	var keys [][]byte
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) != 64 {
			return nil, fmt.Errorf("line %d: want 64 hex characters (32 bytes), got %d characters", n+1, len(line))
		}
		k, err := hex.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: not hex", n+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key: want 32 raw bytes or lines of 64 hex characters")
	}
	return NewKeyring(keys...)
}

func isHexText(b []byte) bool {
	return len(bytes.Trim(b, "0123456789abcdefABCDEF")) == 0
}

// LoadKeyring reads the key file at path. Errors name the setting, never a
// key.
func LoadKeyring(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("HITEXPORT_SECRETS_KEY_FILE: cannot read the file it names: %v", errors.Unwrap(err))
	}
	kr, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("HITEXPORT_SECRETS_KEY_FILE: %v", err)
	}
	return kr, nil
}

// GenerateKey returns a new random key as 64 hex characters (a key file
// line).
func GenerateKey() string {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(k[:])
}

// CurrentKeyID is the id of the sealing key.
func (kr *Keyring) CurrentKeyID() string { return kr.keys[0].id }

// KeyIDs lists the ids of every key, the sealing key first.
func (kr *Keyring) KeyIDs() []string {
	out := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = k.id
	}
	return out
}

// Sealed is a secret sealed with AES-256-GCM: the key id, the 12-byte
// nonce and the ciphertext with its tag (JSON: base64).
type Sealed struct {
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"`
}

// Seal seals plaintext under the current key; aad binds it to its place
// (integration id and field), so a sealed value cannot be moved to another.
func (kr *Keyring) Seal(plaintext, aad []byte) Sealed {
	k := kr.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return Sealed{KeyID: k.id, Nonce: nonce, Ciphertext: k.aead.Seal(nil, nonce, plaintext, aad)}
}

// ErrUnknownKey: a value sealed under a key the keyring does not hold.
var ErrUnknownKey = errors.New("sealed under an unknown key")

// Open opens s with the key it names. Errors name the key id, never the
// secret.
func (kr *Keyring) Open(s Sealed, aad []byte) ([]byte, error) {
	for _, k := range kr.keys {
		if k.id != s.KeyID {
			continue
		}
		if len(s.Nonce) != k.aead.NonceSize() {
			return nil, fmt.Errorf("sealed secret: bad nonce length %d", len(s.Nonce))
		}
		pt, err := k.aead.Open(nil, s.Nonce, s.Ciphertext, aad)
		if err != nil {
			return nil, fmt.Errorf("sealed secret: does not open with key %s (corrupt, or moved from another integration)", s.KeyID)
		}
		return pt, nil
	}
	return nil, fmt.Errorf("%w %q: add that key to HITEXPORT_SECRETS_KEY_FILE (the keys there are %s)", ErrUnknownKey, s.KeyID, strings.Join(kr.KeyIDs(), ", "))
}
