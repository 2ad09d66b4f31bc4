// Stub of tflite::Interpreter (tensorflow/lite/interpreter.h).
#pragma once
#include "tensorflow/lite/signature_runner.h"
namespace tflite {
class Interpreter {
 public:
  SignatureRunner* GetSignatureRunner(const char* signature_key);
};
}  // namespace tflite
