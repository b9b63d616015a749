// Java Paimon's view of a table, for tests: the reader StarRocks and Flink use in
// production, independent of pypaimon and chDB. Prints one JSON object per table:
// {"rows": n, "per_partition": {"<dt>": n, ...}, "sum": s} (tests/support/lake.py `summary`).
//
// java -cp paimon-flink-<v>.jar tests/support/java/PaimonSummary.java \
//   catalog.warehouse=/path [catalog.metastore=jdbc catalog.uri=... ...] \
//   table=db.name [value=column] [partition=dt] [scan.snapshot-id=3 | scan.tag-name=t ...]
// Without value= the sum is null.
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.paimon.catalog.Catalog;
import org.apache.paimon.catalog.CatalogContext;
import org.apache.paimon.catalog.CatalogFactory;
import org.apache.paimon.catalog.Identifier;
import org.apache.paimon.data.InternalRow;
import org.apache.paimon.options.Options;
import org.apache.paimon.reader.RecordReader;
import org.apache.paimon.table.Table;
import org.apache.paimon.table.source.ReadBuilder;
import org.apache.paimon.types.RowType;

public class PaimonSummary {
    public static void main(String[] args) throws Exception {
        Map<String, String> catalogOptions = new HashMap<>();
        Map<String, String> scanOptions = new HashMap<>();
        String table = null, value = null, partition = "dt";
        for (String arg : args) {
            int eq = arg.indexOf('=');
            String key = arg.substring(0, eq), val = arg.substring(eq + 1);
            if (key.startsWith("catalog.")) catalogOptions.put(key.substring(8), val);
            else if (key.startsWith("scan.")) scanOptions.put(key, val);
            else if (key.equals("table")) table = val;
            else if (key.equals("value")) value = val;
            else if (key.equals("partition")) partition = val;
            else throw new IllegalArgumentException("unknown argument " + arg);
        }
        CatalogContext context = CatalogContext.create(Options.fromMap(catalogOptions));
        try (Catalog catalog = CatalogFactory.createCatalog(context)) {
            Table found = catalog.getTable(Identifier.fromString(table));
            if (!scanOptions.isEmpty()) found = found.copy(scanOptions);
            RowType type = found.rowType();
            int partitionIndex = type.getFieldIndex(partition);
            int valueIndex = value == null ? -1 : type.getFieldIndex(value);
            InternalRow.FieldGetter partitionGetter =
                    InternalRow.createFieldGetter(type.getTypeAt(partitionIndex), partitionIndex);
            InternalRow.FieldGetter valueGetter = valueIndex < 0 ? null
                    : InternalRow.createFieldGetter(type.getTypeAt(valueIndex), valueIndex);
            ReadBuilder builder = found.newReadBuilder();
            long rows = 0;
            long sum = 0;
            boolean summed = false;
            TreeMap<String, Long> perPartition = new TreeMap<>();
            try (RecordReader<InternalRow> reader =
                    builder.newRead().createReader(builder.newScan().plan())) {
                RecordReader.RecordIterator<InternalRow> batch;
                while ((batch = reader.readBatch()) != null) {
                    InternalRow row;
                    while ((row = batch.next()) != null) {
                        rows++;
                        Object key = partitionGetter.getFieldOrNull(row);
                        perPartition.merge(String.valueOf(key), 1L, Long::sum);
                        Object v = valueGetter == null ? null : valueGetter.getFieldOrNull(row);
                        if (v != null) {
                            sum += ((Number) v).longValue();
                            summed = true;
                        }
                    }
                    batch.releaseBatch();
                }
            }
            StringBuilder json = new StringBuilder("{\"rows\": ").append(rows);
            json.append(", \"per_partition\": {");
            String sep = "";
            for (Map.Entry<String, Long> entry : perPartition.entrySet()) {
                json.append(sep).append('"').append(entry.getKey().replace("\"", "\\\""))
                        .append("\": ").append(entry.getValue());
                sep = ", ";
            }
            json.append("}, \"sum\": ").append(summed ? Long.toString(sum) : "null").append('}');
            System.out.println(json);
        }
    }
}
