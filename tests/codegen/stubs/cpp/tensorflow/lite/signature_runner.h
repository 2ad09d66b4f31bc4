// Stub of tflite::SignatureRunner with the real method signatures (tensorflow/lite/signature_runner.h).
#pragma once
#include <vector>
#include "tensorflow/lite/core/c/common.h"
namespace tflite {
class SignatureRunner {
 public:
  TfLiteStatus ResizeInputTensor(const char* input_name, const std::vector<int>& new_size);
  TfLiteStatus AllocateTensors();
  TfLiteTensor* input_tensor(const char* input_name);
  const TfLiteTensor* output_tensor(const char* output_name) const;
  TfLiteStatus Invoke();
};
}  // namespace tflite
