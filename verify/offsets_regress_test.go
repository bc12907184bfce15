package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"

	"github.com/hitexport/hitexport/verify"
)

// fakeBroker answers Metadata (two partitions of "t"), ListOffsets (end 10
// and 0) and OffsetFetch (as set).
type fakeBroker struct {
	fetch *offsetfetch.Response
}

func (f *fakeBroker) RoundTrip(_ context.Context, _ net.Addr, req protocol.Message) (protocol.Message, error) {
	switch req.(type) {
	case *metadata.Request:
		return &metadata.Response{Topics: []metadata.ResponseTopic{{Name: "t", Partitions: []metadata.ResponsePartition{{PartitionIndex: 0}, {PartitionIndex: 1}}}}}, nil
	case *listoffsets.Request:
		return &listoffsets.Response{Topics: []listoffsets.ResponseTopic{{Topic: "t", Partitions: []listoffsets.ResponsePartition{
			{Partition: 0, Offset: 10}, {Partition: 1, Offset: 0}}}}}, nil
	case *offsetfetch.Request:
		return f.fetch, nil
	}
	return nil, fmt.Errorf("unexpected request %T", req)
}

// Regression (issue 9, bug 5): verify.Offsets dropped the errors of the
// offset fetch answer (the group's and each partition's) and read a missing
// commit as 0.
func TestOffsetsReportsFetchErrors(t *testing.T) {
	ok := &offsetfetch.Response{Topics: []offsetfetch.ResponseTopic{{Name: "t", Partitions: []offsetfetch.ResponsePartition{
		{PartitionIndex: 0, CommittedOffset: 7}, {PartitionIndex: 1, CommittedOffset: -1}}}}}
	c := &kafka.Client{Addr: kafka.TCP("fake:9092"), Transport: &fakeBroker{fetch: ok}}
	offs, err := verify.Offsets(context.Background(), c, "g", "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 2 || offs[0] != (verify.PartitionOffsets{Partition: 0, Committed: 7, End: 10}) ||
		offs[1] != (verify.PartitionOffsets{Partition: 1, Committed: -1, End: 0}) {
		t.Fatalf("offsets %+v", offs)
	}
	if offs[0].Done() || !offs[1].Done() {
		t.Errorf("Done: %v %v", offs[0].Done(), offs[1].Done())
	}

	groupErr := &offsetfetch.Response{ErrorCode: int16(kafka.GroupAuthorizationFailed)}
	c.Transport = &fakeBroker{fetch: groupErr}
	if _, err := verify.Offsets(context.Background(), c, "g", "t"); !errors.Is(err, kafka.GroupAuthorizationFailed) {
		t.Errorf("group error dropped: %v", err)
	}
	partErr := &offsetfetch.Response{Topics: []offsetfetch.ResponseTopic{{Name: "t", Partitions: []offsetfetch.ResponsePartition{
		{PartitionIndex: 0, CommittedOffset: 7}, {PartitionIndex: 1, ErrorCode: int16(kafka.UnstableOffsetCommit)}}}}}
	c.Transport = &fakeBroker{fetch: partErr}
	if _, err := verify.Offsets(context.Background(), c, "g", "t"); !errors.Is(err, kafka.UnstableOffsetCommit) {
		t.Errorf("partition error dropped: %v", err)
	}
}
