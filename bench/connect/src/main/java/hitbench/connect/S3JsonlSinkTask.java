package hitbench.connect;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.client.builder.AwsClientBuilder;
import com.amazonaws.services.s3.AmazonS3;
import com.amazonaws.services.s3.AmazonS3ClientBuilder;
import com.amazonaws.services.s3.model.ObjectMetadata;
import com.github.luben.zstd.ZstdOutputStream;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;

/**
 * The work of Aiven's S3 sink (2.x): put() keeps the records of each partition in memory; flush(),
 * which Connect calls before every offset commit (offset.flush.interval.ms), writes them as files of
 * at most file.max.records records, named {prefix}{topic}-{partition}-{first offset}{.gz|.zst}, one
 * JSON line {"value":…} per record (the value serialised again by JsonConverter, as Aiven's jsonl
 * writer does), compressed, then Connect commits the offsets to the consumer group connect-{name}.
 */
public class S3JsonlSinkTask extends SinkTask {
    private static final byte[] OPEN = "{\"value\":".getBytes(StandardCharsets.UTF_8);
    private static final byte[] CLOSE = "}\n".getBytes(StandardCharsets.UTF_8);

    private AmazonS3 s3;
    private String bucket;
    private String prefix;
    private String compression;
    private int maxRecords;
    private final JsonConverter json = new JsonConverter();
    private final Map<TopicPartition, List<SinkRecord>> buffers = new HashMap<>();

    @Override
    public String version() {
        return "hitbench-1";
    }

    @Override
    public void start(Map<String, String> props) {
        bucket = required(props, "aws.s3.bucket.name");
        prefix = props.getOrDefault("file.name.prefix", "");
        compression = props.getOrDefault("file.compression.type", "none");
        maxRecords = Integer.parseInt(props.getOrDefault("file.max.records", "0"));
        if (!"jsonl".equals(props.getOrDefault("format.output.type", "jsonl"))) {
            throw new ConnectException("only format.output.type=jsonl is implemented");
        }
        s3 = AmazonS3ClientBuilder.standard()
                .withEndpointConfiguration(new AwsClientBuilder.EndpointConfiguration(
                        required(props, "aws.s3.endpoint"), props.getOrDefault("aws.s3.region", "us-east-1")))
                .withPathStyleAccessEnabled(true)
                .withCredentials(new AWSStaticCredentialsProvider(new BasicAWSCredentials(
                        required(props, "aws.access.key.id"), required(props, "aws.secret.access.key"))))
                .build();
        Map<String, String> jc = new HashMap<>();
        jc.put("schemas.enable", "false");
        jc.put("converter.type", "value");
        json.configure(jc);
    }

    private static String required(Map<String, String> props, String key) {
        String v = props.get(key);
        if (v == null || v.isEmpty()) {
            throw new ConnectException(key + " is required");
        }
        return v;
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        for (SinkRecord r : records) {
            buffers.computeIfAbsent(new TopicPartition(r.topic(), r.kafkaPartition()), tp -> new ArrayList<>()).add(r);
        }
    }

    @Override
    public void flush(Map<TopicPartition, OffsetAndMetadata> offsets) {
        for (Map.Entry<TopicPartition, List<SinkRecord>> e : buffers.entrySet()) {
            List<SinkRecord> recs = e.getValue();
            int step = maxRecords > 0 ? maxRecords : Math.max(1, recs.size());
            for (int i = 0; i < recs.size(); i += step) {
                write(e.getKey(), recs.subList(i, Math.min(recs.size(), i + step)));
            }
            recs.clear();
        }
    }

    private void write(TopicPartition tp, List<SinkRecord> recs) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream(1 << 20);
        String ext = "";
        try {
            OutputStream out;
            switch (compression) {
                case "gzip":
                    out = new GZIPOutputStream(bos, 64 << 10);
                    ext = ".gz";
                    break;
                case "zstd":
                    out = new ZstdOutputStream(bos);
                    ext = ".zst";
                    break;
                default:
                    out = bos;
            }
            for (SinkRecord r : recs) {
                out.write(OPEN);
                out.write(json.fromConnectData(r.topic(), r.valueSchema(), r.value()));
                out.write(CLOSE);
            }
            out.close();
        } catch (IOException ex) {
            throw new ConnectException(ex);
        }
        byte[] body = bos.toByteArray();
        ObjectMetadata md = new ObjectMetadata();
        md.setContentLength(body.length);
        md.setContentType("application/jsonl");
        String key = prefix + tp.topic() + "-" + tp.partition() + "-" + recs.get(0).kafkaOffset() + ext;
        s3.putObject(bucket, key, new ByteArrayInputStream(body), md);
    }

    @Override
    public void stop() {
        if (s3 != null) {
            s3.shutdown();
        }
    }
}
