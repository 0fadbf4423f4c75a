import FileSupport
import Foundation
import TensorEngine

/// Model folders: `config.json` + `model.safetensors`. A GPT folder is a Hugging Face
/// `GPT2LMHeadModel` folder; a bigram folder has `{"model_type": "bigram", "vocab_size": V}`.
public enum ModelFolder {
  /// Writes `model` into `folder` (created if needed).
  public static func save(_ model: any LanguageModel, to folder: String) throws(ModelError) {
    switch model {
    case let gpt as GPT:
      try gpt.save(huggingFaceFolder: folder)
    case let bigram as Bigram:
      try fileAccess(ModelError.file) { () throws(FileError) in try createFolder(folder) }
      try bigram.parameters.save(safetensors: folder + "/model.safetensors")
      let config = "{\n  \"model_type\": \"bigram\",\n  \"vocab_size\": \(bigram.vocabSize)\n}\n"
      try fileAccess(ModelError.file) { () throws(FileError) in try writeAtomically(Data(config.utf8), to: folder + "/config.json") }
    default:
      throw .unsupported("saving a \(type(of: model))")
    }
  }

  /// Loads the model in `folder` (a SwiftGPT checkpoint or a Hugging Face GPT-2 folder). Weights
  /// that are NaN or infinite (a diverged run) are refused: nothing useful comes of them.
  public static func load(_ folder: String) throws(ModelError) -> any LanguageModel {
    let model = try loadUnchecked(folder)
    if let name = model.parameters.firstNonFinite() {
      throw .file(.corrupt(path: folder + "/model.safetensors",
                         reason: "tensor '\(name)' holds NaN or infinite values (the run that wrote it diverged)"))
    }
    return model
  }

  private static func loadUnchecked(_ folder: String) throws(ModelError) -> any LanguageModel {
    try fileAccess(ModelError.file) { () throws(FileError) in try requireFolder(folder, holding: "a model") }
    let configPath = folder + "/config.json"
    guard let data = FileManager.default.contents(atPath: configPath) else {
      throw .file(.unreadable(path: configPath, reason: "no such file (expected a model or checkpoint folder)"))
    }
    let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    if json?["model_type"] as? String == "bigram" {
      guard let vocab = json?["vocab_size"] as? Int else { throw .file(.corrupt(path: configPath, reason: "missing integer 'vocab_size'")) }
      let model = try Bigram(vocabSize: vocab)
      try model.parameters.load(safetensors: folder + "/model.safetensors")
      return model
    }
    return try GPT.load(huggingFaceFolder: folder)
  }
}

/// Whether `name` is a file or folder that SwiftGPT writes into a model folder (a checkpoint,
/// a fine-tuned or merged model): what `writeFolderAtomically` may replace by default.
public func isModelFolderEntry(_ name: String) -> Bool {
  modelFolderEntries.contains(name) || name.hasPrefix("tokenizer.")
}

private let modelFolderEntries: Set<String> = [
  "config.json", "generation_config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json",
  "log.csv", "meta.json", "char_tokenizer.json", "task.json", "task_head.safetensors", "sft.json", "adapter",
  FolderLock.fileName,
]
