// Reads 'A<TAB>B' lines and prints Maven's ComparableVersion A.compareTo(B)
// sign. Run with: java -cp maven-artifact.jar tests/oracles/MavenCompare.java
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class MavenCompare {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] ab = line.split("\t", -1);
            int c = new ComparableVersion(ab[0]).compareTo(new ComparableVersion(ab[1]));
            out.append(Integer.signum(c)).append('\n');
        }
        System.out.print(out);
    }
}
