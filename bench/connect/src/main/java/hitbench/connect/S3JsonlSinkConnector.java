package hitbench.connect;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * Stand-in for Aiven's S3 sink (io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector) in
 * hitexport's benchmark, used where the registry does not serve Aiven's jars. It takes Aiven's
 * property names (aws.*, format.output.type=jsonl, file.compression.type, file.max.records,
 * file.name.prefix) and does the same work the same way; see S3JsonlSinkTask.
 */
public class S3JsonlSinkConnector extends SinkConnector {
    private Map<String, String> props;

    @Override
    public String version() {
        return "hitbench-1";
    }

    @Override
    public void start(Map<String, String> props) {
        this.props = new HashMap<>(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
        return S3JsonlSinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> out = new ArrayList<>();
        for (int i = 0; i < maxTasks; i++) {
            out.add(new HashMap<>(props));
        }
        return out;
    }

    @Override
    public void stop() {
    }

    @Override
    public ConfigDef config() {
        return new ConfigDef();
    }
}
