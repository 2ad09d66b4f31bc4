// Stub of tflite::FlatBufferModel and InterpreterBuilder (tensorflow/lite/model.h, model_builder.h, interpreter_builder.h).
#pragma once
#include <memory>
#include "tensorflow/lite/interpreter.h"
namespace tflite {
class OpResolver {};
class FlatBufferModel {
 public:
  static std::unique_ptr<FlatBufferModel> BuildFromFile(const char* filename);
};
class InterpreterBuilder {
 public:
  InterpreterBuilder(const FlatBufferModel& model, const OpResolver& op_resolver);
  TfLiteStatus SetNumThreads(int num_threads);
  TfLiteStatus operator()(std::unique_ptr<Interpreter>* interpreter);
};
}  // namespace tflite
