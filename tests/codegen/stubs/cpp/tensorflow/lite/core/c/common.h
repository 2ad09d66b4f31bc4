// Stub of the LiteRT C types the generated code uses (same names and fields as tensorflow/lite/core/c/common.h).
#pragma once
#include <cstddef>
#include <cstdint>
typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef struct TfLiteIntArray { int size; int data[1]; } TfLiteIntArray;
typedef union TfLitePtrUnion { int32_t* i32; int64_t* i64; float* f; char* raw; const char* raw_const; uint8_t* uint8; bool* b; int16_t* i16; int8_t* int8; void* data; } TfLitePtrUnion;
typedef struct TfLiteTensor { int type; TfLitePtrUnion data; TfLiteIntArray* dims; size_t bytes; const char* name; } TfLiteTensor;
