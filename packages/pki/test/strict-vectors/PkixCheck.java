// Java's verdict on the strict-verify vectors: the JDK's PKIX CertPathBuilder (path building,
// RFC 5280 checks, jdk.certpath.disabledAlgorithms) plus the leaf EKU test JSSE's EndEntityChecker
// applies to TLS peers. One JVM for every vector: each line of the manifest is
// "id<TAB>epochSeconds<TAB>client|server<TAB>anchors.pem<TAB>chain.pem" (chain: leaf first).
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.*;
import java.util.*;

public class PkixCheck {
  static List<X509Certificate> load(String path) throws Exception {
    try (FileInputStream in = new FileInputStream(path)) {
      List<X509Certificate> out = new ArrayList<>();
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) out.add((X509Certificate) c);
      return out;
    }
  }

  public static void main(String[] args) throws Exception {
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      if (line.isBlank()) continue;
      String[] f = line.split("\t");
      String verdict;
      try {
        List<X509Certificate> chain = load(f[4]);
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate a : load(f[3])) anchors.add(new TrustAnchor(a, null));
        X509CertSelector target = new X509CertSelector();
        target.setCertificate(chain.get(0));
        PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, target);
        params.setRevocationEnabled(false);
        params.setDate(new Date(Long.parseLong(f[1]) * 1000));
        params.setMaxPathLength(-1);
        params.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(chain)));
        CertPathBuilder.getInstance("PKIX").build(params);
        List<String> eku = chain.get(0).getExtendedKeyUsage();
        String want = f[2].equals("client") ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1";
        if (eku != null && !eku.contains(want) && !eku.contains("2.5.29.37.0")) throw new CertificateException("EKU lacks " + want);
        verdict = "ACCEPT";
      } catch (Exception e) {
        verdict = "REJECT " + String.valueOf(e.getMessage()).replace('\n', ' ');
      }
      System.out.println(f[0] + "\t" + verdict);
    }
  }
}
