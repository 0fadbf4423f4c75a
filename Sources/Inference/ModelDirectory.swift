import FileSupport
import Foundation
import Models
import Tokenizers

/// A folder a model is read from — a training run (`train --out`, whose `best/`, else `latest/`,
/// checkpoint is used), a checkpoint, a fine-tuned or merged model, or a Hugging Face GPT-2
/// folder — with what SwiftGPT saves beside the weights: `meta.json` naming the tokenizer, the
/// tokenizer file, `sft.json` and a LoRA `adapter/`.
///
/// `sample`, `chat`, `predict`, `finetune`, `lora merge` and the demo all open models through
/// it, so they accept the same folders.
public struct ModelDirectory: Sendable {
  /// The checkpoint folder the weights are read from.
  public let path: String
  /// The name of the folder as given (a run's name, not `best`): what `serve` calls the model.
  public let name: String

  /// Resolves `path`: a run folder's `best/` or `latest/` checkpoint, else the folder itself.
  /// A checkpoint save killed halfway is completed first (`recoverInterruptedWrite`).
  public init(_ path: String) {
    let path = normalizedPath(path)
    name = URL(fileURLWithPath: path).standardized.lastPathComponent
    for checkpoint in ["best", "latest"] {
      let candidate = path + "/" + checkpoint
      recoverInterruptedWrite(candidate)
      if FileManager.default.fileExists(atPath: candidate + "/config.json") {
        self.path = candidate
        return
      }
    }
    self.path = path
  }

  /// `meta.json`, if the folder has one.
  public var meta: DatasetMeta? { try? DatasetMeta(folder: path) }

  /// The model (a GPT or a bigram); non-finite weights are refused.
  public func loadModel() throws -> any LanguageModel { try ModelFolder.load(path) }

  /// The model as a GPT (bigram models cannot be fine-tuned or chatted with).
  public func loadGPT() throws -> GPT {
    guard let gpt = try loadModel() as? GPT else { throw ModelError.unsupported("\(path) holds a bigram model; this needs a GPT") }
    return gpt
  }

  /// The tokenizer: `override` (a built-in name or a file), else the one `meta.json` names
  /// (saved in the folder), else GPT-2's for a model with GPT-2's vocabulary.
  public func tokenizer(override: String? = nil, vocabSize: Int) throws -> any Tokenizer {
    if let override { return try loadTokenizer(override) }
    if let meta, let tokenizer = try meta.openTokenizer(in: path) { return tokenizer }
    if vocabSize == 50_257 { return try Encoding.named("gpt2") }
    throw ModelError.file(.unreadable(path: path + "/meta.json", reason: "no such file naming the model's tokenizer; give --tokenizer"))
  }

  /// The files a model derived from this one carries for its tokenizer: this folder's
  /// (`DatasetMeta.tokenizerFiles`), or, with `override`, that tokenizer (a built-in name, or a
  /// file copied in as `tokenizer.EXT`) named by a new `meta.json`.
  public func tokenizerFiles(override: String? = nil) throws -> [String: Data] {
    var meta = self.meta ?? DatasetMeta(vocabSize: 0, tokenizer: "")
    guard let override else { return meta.tokenizer.isEmpty ? [:] : try meta.tokenizerFiles(in: path) }
    guard let data = FileManager.default.contents(atPath: override) else {
      meta.tokenizer = override
      return try meta.tokenizerFiles(in: path)
    }
    meta.tokenizer = "tokenizer." + (override as NSString).pathExtension
    var files = try meta.tokenizerFiles(in: path)
    files[meta.tokenizer] = data
    return files
  }

  /// The instruction markers (`sft.json`) of an instruction-tuned model, or nil.
  public func instructionTokens() throws -> InstructionTokens? { try InstructionTokens(folder: path) }

  /// The folder's PEFT adapter (`adapter/`), if it has one.
  public var adapterFolder: String? {
    let folder = path + "/adapter"
    return FileManager.default.fileExists(atPath: folder + "/adapter_config.json") ? folder : nil
  }
}
