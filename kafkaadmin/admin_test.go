package kafkaadmin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/deletegroups"
	"github.com/segmentio/kafka-go/protocol/offsetcommit"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
)

// fakeBroker records the last request and answers with resp (or err).
type fakeBroker struct {
	last protocol.Message
	resp protocol.Message
}

func (f *fakeBroker) RoundTrip(_ context.Context, _ net.Addr, req protocol.Message) (protocol.Message, error) {
	f.last = req
	if f.resp == nil {
		return nil, fmt.Errorf("no answer for %T", req)
	}
	return f.resp, nil
}

func client(f *fakeBroker) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP("fake:9092"), Transport: f}
}

func TestFetchCommitted(t *testing.T) {
	f := &fakeBroker{resp: &offsetfetch.Response{Topics: []offsetfetch.ResponseTopic{{Name: "t", Partitions: []offsetfetch.ResponsePartition{
		{PartitionIndex: 0, CommittedOffset: 42, Metadata: "hx1 m=1 c=2 r="}, {PartitionIndex: 2, CommittedOffset: -1}}}}}}
	got, err := FetchCommitted(context.Background(), client(f), "g", "t", []int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Committed{0: {42, "hx1 m=1 c=2 r="}, 1: {Offset: -1}, 2: {Offset: -1}}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("partition %d: %+v, want %+v", p, got[p], w)
		}
	}
	if req := f.last.(*offsetfetch.Request); req.GroupID != "g" || len(req.Topics) != 1 || len(req.Topics[0].PartitionIndexes) != 3 {
		t.Errorf("request %+v", req)
	}
	if got, err := FetchCommitted(context.Background(), client(&fakeBroker{}), "g", "t", nil); err != nil || len(got) != 0 {
		t.Errorf("no partitions: %v %v", got, err)
	}
}

func TestCommitSimpleAndMember(t *testing.T) {
	ok := &offsetcommit.Response{Topics: []offsetcommit.ResponseTopic{{Name: "t", Partitions: []offsetcommit.ResponsePartition{{PartitionIndex: 1}}}}}
	f := &fakeBroker{resp: ok}
	if err := Commit(context.Background(), client(f), "g", "t", Simple, []Offset{{Partition: 1, Offset: 9, Metadata: "note"}}); err != nil {
		t.Fatal(err)
	}
	req := f.last.(*offsetcommit.Request)
	if req.GenerationID != -1 || req.MemberID != "" || req.GroupID != "g" || req.Topics[0].Partitions[0].CommittedOffset != 9 ||
		req.Topics[0].Partitions[0].CommittedMetadata != "note" {
		t.Errorf("simple commit request %+v", req)
	}
	if err := Commit(context.Background(), client(f), "g", "t", Member{Generation: 7, ID: "m-1"}, []Offset{{Partition: 1, Offset: 10}}); err != nil {
		t.Fatal(err)
	}
	if req := f.last.(*offsetcommit.Request); req.GenerationID != 7 || req.MemberID != "m-1" {
		t.Errorf("member commit request %+v", req)
	}
	f.resp = &offsetcommit.Response{Topics: []offsetcommit.ResponseTopic{{Name: "t", Partitions: []offsetcommit.ResponsePartition{
		{PartitionIndex: 1, ErrorCode: int16(kafka.UnknownMemberId)}}}}}
	err := Commit(context.Background(), client(f), "g", "t", Simple, []Offset{{Partition: 1, Offset: 9}})
	if !errors.Is(err, ErrGroupActive) || !errors.Is(err, kafka.UnknownMemberId) {
		t.Errorf("refused commit: %v", err)
	}
	err = Commit(context.Background(), client(f), "g", "t", Member{Generation: 7, ID: "m-1"}, []Offset{{Partition: 1, Offset: 9}})
	if errors.Is(err, ErrGroupActive) || !errors.Is(err, kafka.UnknownMemberId) {
		t.Errorf("member commit of an ended generation: %v", err)
	}
	f.resp = &offsetcommit.Response{Topics: []offsetcommit.ResponseTopic{{Name: "t", Partitions: []offsetcommit.ResponsePartition{
		{PartitionIndex: 1, ErrorCode: int16(kafka.OffsetMetadataTooLarge)}}}}}
	err = Commit(context.Background(), client(f), "g", "t", Simple, []Offset{{Partition: 1, Offset: 9}})
	if errors.Is(err, ErrGroupActive) || !errors.Is(err, kafka.OffsetMetadataTooLarge) {
		t.Errorf("other commit error: %v", err)
	}
}

func TestDeleteGroup(t *testing.T) {
	for _, c := range []struct {
		code   kafka.Error
		ok     bool
		active bool
	}{{0, true, false}, {kafka.GroupIdNotFound, true, false}, {kafka.NonEmptyGroup, false, true}, {kafka.GroupAuthorizationFailed, false, false}} {
		f := &fakeBroker{resp: &deletegroups.Response{Responses: []deletegroups.ResponseGroup{{GroupID: "g", ErrorCode: int16(c.code)}}}}
		err := DeleteGroup(context.Background(), client(f), "g")
		if (err == nil) != c.ok || errors.Is(err, ErrGroupActive) != c.active {
			t.Errorf("code %v: %v", c.code, err)
		}
	}
}
