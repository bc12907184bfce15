package encoders

// Reading the keys of an object by their order in the previous record: the
// hits of one producer have their members in the same order, so the key
// at a member's place is, as a rule, the key that was there last time. A
// key is then read by comparing the bytes `"key":` with the ones remembered
// (no scan of the string, no lookup of the field), and only when they
// differ, or for a key with an escape or space before its colon, read and
// looked up as usual. The result is the same in both cases: the same bytes
// make the same key.

import "encoding/binary"

// ocsfKeyOrder remembers the keys of an object, by place.
type ocsfKeyOrder struct {
	keys []ocsfKeyLit
	// text holds the keys' bytes; keys[k] views text[keys[k].off:]. A
	// place relearnt truncates text at its offset: the views of the places
	// before it stay valid, those at and after it are no longer used (the
	// record being read has not reached them; keys of earlier records are
	// dead once those are written).
	text []byte
}

type ocsfKeyLit struct {
	lit   string      // `"key":`
	field ocsfHitBits // the known field (0 for others and in tags)
	off   int         // of lit in text
	// head, tail: lit's first and last 8 bytes (little-endian; when lit is
	// shorter, head is its bytes and mask the bits they take).
	head, tail, mask uint64
}

// Bounds of what is remembered (hits hold a few dozen members).
const (
	ocsfKeyOrderMax     = 64
	ocsfKeyOrderTextMax = 4096
)

// at returns the key remembered at place k when raw[i:] starts with it.
func (o *ocsfKeyOrder) at(raw []byte, i, k int) (*ocsfKeyLit, bool) {
	if k >= len(o.keys) {
		return nil, false
	}
	kl := &o.keys[k]
	n := len(kl.lit)
	if len(raw)-i < 8 || len(raw)-i < n {
		if len(raw)-i < n || string(raw[i:i+n]) != kl.lit {
			return nil, false
		}
		return kl, true
	}
	// Two (overlapping) words instead of a call of memequal: the keys of
	// hits are short.
	if binary.LittleEndian.Uint64(raw[i:])&kl.mask != kl.head {
		return nil, false
	}
	if n > 8 && binary.LittleEndian.Uint64(raw[i+n-8:]) != kl.tail {
		return nil, false
	}
	if n > 16 && string(raw[i+8:i+n-8]) != kl.lit[8:n-8] {
		return nil, false
	}
	return kl, true
}

// learn remembers lit (`"key":`, a plain key) at place k.
func (o *ocsfKeyOrder) learn(k int, lit []byte, field ocsfHitBits) {
	if k > len(o.keys) || k >= ocsfKeyOrderMax {
		return
	}
	off := len(o.text)
	if k < len(o.keys) {
		off = o.keys[k].off
		o.keys = o.keys[:k]
	}
	if off+len(lit) > ocsfKeyOrderTextMax {
		o.text = o.text[:off]
		return
	}
	o.text = append(o.text[:off], lit...)
	kl := ocsfKeyLit{lit: ocsfView(o.text[off:]), field: field, off: off, mask: ^uint64(0)}
	var w [8]byte
	copy(w[:], lit)
	kl.head = binary.LittleEndian.Uint64(w[:])
	if len(lit) < 8 {
		kl.mask = 1<<(8*len(lit)) - 1
	} else {
		kl.tail = binary.LittleEndian.Uint64(lit[len(lit)-8:])
	}
	o.keys = append(o.keys, kl)
}

// ocsfFieldOf is the known field of the hit named key, 0 for others.
func ocsfFieldOf(key []byte) ocsfHitBits {
	switch string(key) {
	case "time":
		return hfTime
	case "request_id":
		return hfRequestID
	case "ip":
		return hfIP
	case "datacenter":
		return hfDatacenter
	case "tor":
		return hfTor
	case "remote_country":
		return hfRemoteCountry
	case "domain":
		return hfDomain
	case "method":
		return hfMethod
	case "uri":
		return hfURI
	case "protocol":
		return hfProtocol
	case "status_code":
		return hfStatusCode
	case "attack_type":
		return hfAttackType
	case "block_status":
		return hfBlockStatus
	case "payload":
		return hfPayload
	case "point":
		return hfPoint
	case "tags":
		return hfTags
	}
	return 0
}
