import java.io.FileInputStream;
import java.io.InputStream;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Validates leaf + intermediates against a trust bundle with Java's own PKIX revocation checking,
 * which fetches the CRL from each certificate's CRL distribution point (mode "crl", run with
 * -Dcom.sun.security.enableCRLDP=true) or asks the OCSP responder named in the AIA (mode "ocsp").
 * No fallback: if the chosen source cannot answer, validation fails.
 *
 * Usage: java RevocationCheck crl|ocsp trust-bundle.pem leaf.pem [intermediate.pem ...]
 * Prints "OK" and exits 0 when the path validates; prints "REJECTED reason=... index=... message=..."
 * and exits 2 when it does not; exits 1 on any other error (bad arguments, unreadable files).
 */
public final class RevocationCheck {
  public static void main(String[] args) {
    try {
      if (args.length < 3 || !(args[0].equals("crl") || args[0].equals("ocsp"))) {
        System.out.println("usage: RevocationCheck crl|ocsp trust-bundle.pem leaf.pem [intermediate.pem ...]");
        System.exit(1);
      }
      CertificateFactory cf = CertificateFactory.getInstance("X.509");

      Set<TrustAnchor> anchors = new HashSet<>();
      for (Certificate c : readAll(cf, args[1])) anchors.add(new TrustAnchor((X509Certificate) c, null));
      if (anchors.isEmpty()) throw new IllegalArgumentException("no certificate in " + args[1]);

      List<X509Certificate> path = new ArrayList<>();
      for (int i = 2; i < args.length; i++) {
        for (Certificate c : readAll(cf, args[i])) path.add((X509Certificate) c);
      }
      CertPath certPath = cf.generateCertPath(path);

      CertPathValidator validator = CertPathValidator.getInstance("PKIX");
      PKIXRevocationChecker checker = (PKIXRevocationChecker) validator.getRevocationChecker();
      EnumSet<PKIXRevocationChecker.Option> options = EnumSet.of(PKIXRevocationChecker.Option.NO_FALLBACK);
      if (args[0].equals("crl")) options.add(PKIXRevocationChecker.Option.PREFER_CRLS);
      checker.setOptions(options);

      PKIXParameters params = new PKIXParameters(anchors);
      params.setRevocationEnabled(true);
      params.addCertPathChecker(checker);

      validator.validate(certPath, params);
      System.out.println("OK");
      System.exit(0);
    } catch (CertPathValidatorException e) {
      Throwable cause = e.getCause();
      System.out.println("REJECTED reason=" + e.getReason() + " index=" + e.getIndex() + " message=" + e.getMessage()
          + (cause != null ? " cause=" + cause : ""));
      System.exit(2);
    } catch (Exception e) {
      System.out.println("ERROR " + e);
      System.exit(1);
    }
  }

  private static List<Certificate> readAll(CertificateFactory cf, String file) throws Exception {
    try (InputStream in = new FileInputStream(file)) {
      return new ArrayList<>(cf.generateCertificates(in));
    }
  }
}
