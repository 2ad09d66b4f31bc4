// A stub of LiteRT's Java Interpreter with the signatures the generated code calls, for compile checks.
package org.tensorflow.lite;

import java.io.File;
import java.util.Map;

public class Interpreter implements AutoCloseable {
  public Interpreter(File modelFile) {}

  public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String signatureKey) {}

  public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs) {}

  public String[] getSignatureKeys() { return new String[0]; }

  @Override
  public void close() {}
}
