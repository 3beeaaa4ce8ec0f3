#include "nodes/video/ffmpeg_io.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"

namespace lattice {

namespace {

std::string av_message(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

/// Throws an InvalidInput (reading) or Evaluation (writing) error naming the file, the step and FFmpeg's text.
[[noreturn]] void fail(bool reading, const std::filesystem::path& path, const std::string& what, int err = 0) {
  std::string msg = path.string() + ": " + what;
  if (err < 0) msg += ": " + av_message(err);
  if (reading) throw_invalid(msg);
  throw_eval(msg);
}

void quiet_ffmpeg() {
  // libx264 and the demuxers print lines of their own; our errors carry FFmpeg's message, so only fatal ones print.
  static const bool once = [] {
    av_log_set_level(AV_LOG_FATAL);
    return true;
  }();
  (void)once;
}

struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;

FramePtr new_frame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw std::bad_alloc();
  return f;
}
PacketPtr new_packet() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw std::bad_alloc();
  return p;
}

std::string lower_ext(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

}  // namespace

bool is_movie_path(const std::filesystem::path& path) {
  const std::string e = lower_ext(path);
  return e == ".mp4" || e == ".mov" || e == ".mkv";
}

std::pair<int, int> fps_to_rational(double fps) {
  if (!(fps > 0 && fps <= 1000)) throw_invalid("frame rate " + std::to_string(fps) + " is out of range (0..1000]");
  if (std::fabs(fps - std::round(fps)) < 1e-6) return {static_cast<int>(std::lround(fps)), 1};
  // NTSC rates given rounded (23.976, 29.97, 59.94) mean n·1000/1001.
  const long n = std::lround(fps * 1.001);
  if (std::fabs(fps - static_cast<double>(n) * 1000.0 / 1001.0) < 0.005) return {static_cast<int>(n * 1000), 1001};
  const AVRational r = av_d2q(fps, 1001000);
  return {r.num, r.den};
}

// ---------------------------------------------------------------------------------------------------------
// Writing

struct VideoWriter::Impl {
  std::filesystem::path path, tmp;
  int width = 0, height = 0;          // of the frames pushed
  int enc_width = 0, enc_height = 0;  // even
  AVFormatContext* oc = nullptr;
  CodecPtr venc, aenc;
  AVStream* vst = nullptr;
  AVStream* ast = nullptr;
  SwsPtr sws;
  std::vector<uint16_t> rgb;  // one frame as RGB48, padded to the encoded size
  std::deque<AVFrame*> queue;
  std::deque<PacketPtr> audio_packets;  // encoded up front, in the stream's time base, written interleaved
  size_t queue_limit = 8;
  bool header_written = false, finished = false;

  ~Impl() {
    for (AVFrame* f : queue) av_frame_free(&f);
    if (oc) {
      if (oc->pb) avio_closep(&oc->pb);
      avformat_free_context(oc);
    }
    if (!finished && !tmp.empty()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
    }
  }

  [[noreturn]] void fail(const std::string& what, int err = 0) const { lattice::fail(false, path, what, err); }

  void write_packet(AVPacket* pkt) {
    const int err = av_interleaved_write_frame(oc, pkt);
    if (err < 0) fail("cannot write a packet", err);
  }

  /// Writes the queued audio packets that come before `dts` (in `tb`), or all of them when tb.num is 0.
  void write_audio_until(int64_t dts, AVRational tb) {
    while (!audio_packets.empty() &&
           (tb.num == 0 || av_compare_ts(audio_packets.front()->dts, ast->time_base, dts, tb) <= 0)) {
      write_packet(audio_packets.front().get());
      audio_packets.pop_front();
    }
  }

  /// Sends one frame (null = flush) to the video encoder and writes every packet it returns.
  void encode_video(AVFrame* frame) {
    int err = avcodec_send_frame(venc.get(), frame);
    if (err < 0) fail("video encoder refused a frame", err);
    PacketPtr pkt = new_packet();
    for (;;) {
      err = avcodec_receive_packet(venc.get(), pkt.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
      if (err < 0) fail("video encoding failed", err);
      av_packet_rescale_ts(pkt.get(), venc->time_base, vst->time_base);
      pkt->stream_index = vst->index;
      if (ast) write_audio_until(pkt->dts, vst->time_base);
      write_packet(pkt.get());
    }
  }

  void open_video(const VideoEncodeOptions& o, std::string& codec_name) {
    if (!o.codec.empty() && o.codec != "libx264" && o.codec != "mpeg4")
      fail("video codec '" + o.codec + "' is not supported (libx264 or mpeg4)");
    const AVCodec* codec = o.codec == "mpeg4" ? nullptr : avcodec_find_encoder_by_name("libx264");
    if (!codec && o.codec == "libx264") fail("this FFmpeg has no libx264 encoder");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);  // FFmpeg builds without libx264
    if (!codec) fail("this FFmpeg has neither libx264 nor the mpeg4 encoder");
    codec_name = codec->name;
    venc.reset(avcodec_alloc_context3(codec));
    if (!venc) throw std::bad_alloc();
    AVCodecContext* c = venc.get();
    c->width = enc_width;
    c->height = enc_height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = AVRational{o.fps_den, o.fps_num};
    c->framerate = AVRational{o.fps_num, o.fps_den};
    c->sample_aspect_ratio = AVRational{1, 1};
    c->colorspace = AVCOL_SPC_BT709;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    c->color_range = AVCOL_RANGE_MPEG;
    c->thread_count = 0;  // the encoder's own threads: libx264 pipelines frames internally
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary* opts = nullptr;
    if (codec_name == "libx264") {
      av_dict_set(&opts, "crf", std::to_string(o.crf).c_str(), 0);
      av_dict_set(&opts, "preset", o.preset.c_str(), 0);
    } else {
      // mpeg4: fixed quantiser 2 (best) .. 31 (worst) from the crf scale.
      const int q = std::clamp(2 + (o.crf * 29 + 25) / 51, 2, 31);
      c->flags |= AV_CODEC_FLAG_QSCALE;
      c->global_quality = FF_QP2LAMBDA * q;
    }
    const int err = avcodec_open2(c, codec, &opts);
    av_dict_free(&opts);
    if (err < 0) fail("cannot open the " + codec_name + " encoder", err);
    vst = avformat_new_stream(oc, nullptr);
    if (!vst) throw std::bad_alloc();
    vst->time_base = c->time_base;
    vst->avg_frame_rate = c->framerate;
    const int e2 = avcodec_parameters_from_context(vst->codecpar, c);
    if (e2 < 0) fail("cannot set the video stream parameters", e2);
  }

  void open_audio(const AudioData& a, const VideoEncodeOptions& o) {
    const AVCodec* codec = avcodec_find_encoder_by_name("aac");
    if (!codec) fail("this FFmpeg has no AAC encoder");
    if (a.channels > 8) fail("AAC holds at most 8 audio channels, the audio has " + std::to_string(a.channels));
    aenc.reset(avcodec_alloc_context3(codec));
    if (!aenc) throw std::bad_alloc();
    AVCodecContext* c = aenc.get();
    int rate = 48000;  // used when the AAC encoder does not take the audio's own rate
    for (const int* r = codec->supported_samplerates; r && *r; ++r)
      if (*r == a.sample_rate) rate = a.sample_rate;
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->sample_rate = rate;
    av_channel_layout_default(&c->ch_layout, a.channels);
    c->bit_rate = o.audio_bitrate;
    c->time_base = AVRational{1, rate};
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int err = avcodec_open2(c, codec, nullptr);
    if (err < 0) fail("cannot open the AAC encoder", err);
    ast = avformat_new_stream(oc, nullptr);
    if (!ast) throw std::bad_alloc();
    ast->time_base = c->time_base;
    err = avcodec_parameters_from_context(ast->codecpar, c);
    if (err < 0) fail("cannot set the audio stream parameters", err);
  }

  /// Encodes the whole track into audio_packets (after the header, when stream time bases are final).
  void encode_audio(const AudioData& a) {
    AVCodecContext* c = aenc.get();
    // Interleaved float at the source rate -> planar float at the encoder's rate.
    AVChannelLayout layout{};
    av_channel_layout_default(&layout, a.channels);
    SwrContext* raw = nullptr;
    int err = swr_alloc_set_opts2(&raw, &c->ch_layout, AV_SAMPLE_FMT_FLTP, c->sample_rate, &layout,
                                  AV_SAMPLE_FMT_FLT, a.sample_rate, 0, nullptr);
    av_channel_layout_uninit(&layout);
    SwrPtr swr(raw);
    if (err < 0 || (err = swr_init(swr.get())) < 0) fail("cannot set up audio conversion", err);
    const int64_t in_frames = a.frames();
    const int64_t out_cap = av_rescale_rnd(in_frames, c->sample_rate, a.sample_rate, AV_ROUND_UP) + 256;
    std::vector<std::vector<float>> planes(static_cast<size_t>(a.channels), std::vector<float>(static_cast<size_t>(out_cap)));
    std::vector<uint8_t*> outp(planes.size());
    for (size_t i = 0; i < planes.size(); ++i) outp[i] = reinterpret_cast<uint8_t*>(planes[i].data());
    const uint8_t* inp = reinterpret_cast<const uint8_t*>(a.samples.data());
    int got = swr_convert(swr.get(), outp.data(), static_cast<int>(out_cap), &inp, static_cast<int>(in_frames));
    if (got < 0) fail("audio conversion failed", got);
    int64_t total = got;
    for (size_t i = 0; i < planes.size(); ++i) outp[i] = reinterpret_cast<uint8_t*>(planes[i].data() + total);
    got = swr_convert(swr.get(), outp.data(), static_cast<int>(out_cap - total), nullptr, 0);  // drain
    if (got < 0) fail("audio conversion failed", got);
    total += got;

    const int fs = c->frame_size > 0 ? c->frame_size : 1024;
    PacketPtr pkt = new_packet();
    auto drain = [&](AVFrame* f) {
      int e = avcodec_send_frame(c, f);
      if (e < 0) fail("AAC encoder refused audio", e);
      for (;;) {
        e = avcodec_receive_packet(c, pkt.get());
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return;
        if (e < 0) fail("AAC encoding failed", e);
        av_packet_rescale_ts(pkt.get(), c->time_base, ast->time_base);
        pkt->stream_index = ast->index;
        PacketPtr keep = new_packet();
        av_packet_move_ref(keep.get(), pkt.get());
        audio_packets.push_back(std::move(keep));
      }
    };
    for (int64_t pos = 0; pos < total; pos += fs) {
      FramePtr f = new_frame();
      f->format = AV_SAMPLE_FMT_FLTP;
      f->sample_rate = c->sample_rate;
      f->nb_samples = fs;  // the last frame is padded with silence to a whole frame
      if ((err = av_channel_layout_copy(&f->ch_layout, &c->ch_layout)) < 0) fail("audio frame layout", err);
      if ((err = av_frame_get_buffer(f.get(), 0)) < 0) fail("cannot allocate an audio frame", err);
      const int64_t n = std::min<int64_t>(fs, total - pos);
      for (size_t ch = 0; ch < planes.size(); ++ch) {
        float* dst = reinterpret_cast<float*>(f->data[ch]);
        for (int64_t i = 0; i < fs; ++i)
          dst[i] = i < n ? std::clamp(planes[ch][static_cast<size_t>(pos + i)], -1.0f, 1.0f) : 0.0f;
      }
      f->pts = pos;
      drain(f.get());
    }
    drain(nullptr);
  }

  /// Float pixels -> RGB48 (padded by edge repetition) -> yuv420p frame.
  FramePtr convert(const ImageData& img) {
    const int ch = img.channels;
    for (int y = 0; y < enc_height; ++y) {
      const float* src = img.row(std::min(y, height - 1));
      uint16_t* dst = rgb.data() + static_cast<size_t>(y) * enc_width * 3;
      for (int x = 0; x < enc_width; ++x) {
        const float* p = src + static_cast<size_t>(std::min(x, width - 1)) * ch;
        const float r = p[0], g = ch >= 3 ? p[1] : p[0], b = ch >= 3 ? p[2] : p[0];
        for (int k = 0; k < 3; ++k) {
          const float v = k == 0 ? r : (k == 1 ? g : b);
          const float c = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
          dst[x * 3 + k] = static_cast<uint16_t>(std::lround(c * 65535.0f));
        }
      }
    }
    FramePtr f = new_frame();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = enc_width;
    f->height = enc_height;
    int err = av_frame_get_buffer(f.get(), 0);
    if (err < 0) fail("cannot allocate a video frame", err);
    const uint8_t* src[1] = {reinterpret_cast<const uint8_t*>(rgb.data())};
    const int stride[1] = {enc_width * 3 * 2};
    err = sws_scale(sws.get(), src, stride, 0, enc_height, f->data, f->linesize);
    if (err < 0) fail("colour conversion to yuv420p failed", err);
    f->color_range = AVCOL_RANGE_MPEG;
    f->colorspace = AVCOL_SPC_BT709;
    f->color_primaries = AVCOL_PRI_BT709;
    f->color_trc = AVCOL_TRC_BT709;
    return f;
  }
};

VideoWriter::VideoWriter(const std::filesystem::path& path, int width, int height, const VideoEncodeOptions& o,
                         std::shared_ptr<const AudioData> audio)
    : impl_(std::make_unique<Impl>()) {
  quiet_ffmpeg();
  Impl& m = *impl_;
  m.path = path;
  if (width < 1 || height < 1 || width > 16384 || height > 16384)
    m.fail("frame size " + std::to_string(width) + "x" + std::to_string(height) + " is not supported (1..16384)");
  if (o.fps_num <= 0 || o.fps_den <= 0)
    m.fail("frame rate " + std::to_string(o.fps_num) + "/" + std::to_string(o.fps_den) + " is not positive");
  if (o.crf < 0 || o.crf > 51) m.fail("crf " + std::to_string(o.crf) + " is out of range (0..51)");
  m.width = width;
  m.height = height;
  m.enc_width = width + (width & 1);
  m.enc_height = height + (height & 1);
  m.rgb.resize(static_cast<size_t>(m.enc_width) * m.enc_height * 3);
  m.queue_limit = static_cast<size_t>(std::max(1, o.queue_frames));

  const AVOutputFormat* fmt = av_guess_format(nullptr, path.filename().string().c_str(), nullptr);
  if (!fmt) m.fail("no FFmpeg muxer for '" + path.extension().string() + "'");
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::random_device rd;
  m.tmp = dir / ("." + path.stem().string() + ".tmp" + std::to_string(rd() % 1000000) + path.extension().string());

  int err = avformat_alloc_output_context2(&m.oc, fmt, nullptr, m.tmp.string().c_str());
  if (err < 0 || !m.oc) m.fail("cannot create the output container", err);
  m.open_video(o, codec_name_);
  if (audio && audio->frames() > 0) m.open_audio(*audio, o);
  err = avio_open(&m.oc->pb, m.tmp.string().c_str(), AVIO_FLAG_WRITE);
  if (err < 0) m.fail("cannot open for writing", err);
  AVDictionary* mux = nullptr;
  if (fmt->name && std::string(fmt->name).find("mp4") != std::string::npos) av_dict_set(&mux, "movflags", "+faststart", 0);
  err = avformat_write_header(m.oc, &mux);
  av_dict_free(&mux);
  if (err < 0) m.fail("cannot write the container header", err);
  m.header_written = true;
  if (m.ast) m.encode_audio(*audio);

  m.sws.reset(sws_getContext(m.enc_width, m.enc_height, AV_PIX_FMT_RGB48LE, m.enc_width, m.enc_height,
                             AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                             nullptr, nullptr));
  if (!m.sws) m.fail("cannot set up the yuv420p conversion");
  // Full-range RGB in, BT.709 limited-range YUV out.
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  sws_setColorspaceDetails(m.sws.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);

  thread_ = std::thread([this] { worker(); });
}

VideoWriter::~VideoWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!impl_->finished) {  // abandoned: nothing more is encoded
      for (AVFrame* f : impl_->queue) av_frame_free(&f);
      impl_->queue.clear();
    }
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool VideoWriter::padded() const { return impl_->enc_width != impl_->width || impl_->enc_height != impl_->height; }

void VideoWriter::worker() {
  Impl& m = *impl_;
  try {
    for (;;) {
      AVFrame* raw = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closing_ || !m.queue.empty(); });
        if (m.queue.empty()) break;  // closing and drained
        raw = m.queue.front();
        m.queue.pop_front();
      }
      cv_.notify_all();
      FramePtr f(raw);
      m.encode_video(f.get());
    }
    if (!m.finished) return;  // abandoned: the destructor removes the file
    m.encode_video(nullptr);
    if (m.ast) m.write_audio_until(0, AVRational{0, 1});
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    worker_error_ = std::current_exception();
    for (AVFrame* f : m.queue) av_frame_free(&f);
    m.queue.clear();
    closing_ = true;
    cv_.notify_all();
  }
}

void VideoWriter::push(const ImageData& frame) {
  Impl& m = *impl_;
  if (frame.width != m.width || frame.height != m.height)
    m.fail("frame " + std::to_string(pushed_) + " is " + std::to_string(frame.width) + "x" +
           std::to_string(frame.height) + ", the video is " + std::to_string(m.width) + "x" + std::to_string(m.height));
  FramePtr f = m.convert(frame);
  f->pts = pushed_;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return worker_error_ || closing_ || m.queue.size() < m.queue_limit; });
  if (worker_error_) std::rethrow_exception(worker_error_);
  if (closing_) m.fail("frame pushed after finish()");
  m.queue.push_back(f.release());
  ++pushed_;
  lock.unlock();
  cv_.notify_all();
}

void VideoWriter::finish() {
  Impl& m = *impl_;
  if (!thread_.joinable()) m.fail("finish() was already called");
  if (pushed_ == 0) m.fail("a video needs at least one frame");
  {
    std::lock_guard<std::mutex> lock(mu_);
    m.finished = true;
    closing_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (worker_error_) {
    m.finished = false;  // the destructor removes the temporary file
    std::rethrow_exception(worker_error_);
  }
  int err = av_write_trailer(m.oc);
  if (err < 0) {
    m.finished = false;
    m.fail("cannot finish the file", err);
  }
  err = avio_closep(&m.oc->pb);
  if (err < 0) {
    m.finished = false;
    m.fail("cannot close the file", err);
  }
  std::error_code ec;
  std::filesystem::rename(m.tmp, m.path, ec);
  if (ec) {
    m.finished = false;
    m.fail("cannot move the finished file into place: " + ec.message());
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading

namespace {

struct InputFile {
  std::filesystem::path path;
  AVFormatContext* ic = nullptr;
  ~InputFile() {
    if (ic) avformat_close_input(&ic);
  }
  [[noreturn]] void fail(const std::string& what, int err = 0) const { lattice::fail(true, path, what, err); }

  /// `kind` names what the file should be in the message when FFmpeg cannot open it ("video", "sound file").
  explicit InputFile(const std::filesystem::path& p, const char* kind = "video") : path(p) {
    quiet_ffmpeg();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) throw_invalid(p.string() + ": no such file");
    int err = avformat_open_input(&ic, p.string().c_str(), nullptr, nullptr);
    if (err < 0) {
      ic = nullptr;
      fail(std::string("not a readable ") + kind, err);
    }
    err = avformat_find_stream_info(ic, nullptr);
    if (err < 0) fail("cannot read the stream information", err);
  }

  int video_stream() const {
    const int s = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (s < 0) fail("has no video stream", s == AVERROR_STREAM_NOT_FOUND ? 0 : s);
    return s;
  }
  int audio_stream() const { return av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0); }
  int required_audio_stream() const {
    const int s = audio_stream();
    if (s < 0) fail("has no audio stream", s == AVERROR_STREAM_NOT_FOUND ? 0 : s);
    return s;
  }

  AVRational frame_rate(int s) const {
    AVRational r = av_guess_frame_rate(ic, ic->streams[s], nullptr);
    if (r.num <= 0 || r.den <= 0) fail("does not say its frame rate");
    av_reduce(&r.num, &r.den, r.num, r.den, INT32_MAX);
    return r;
  }

  CodecPtr open_decoder(int s) const {
    const AVCodecParameters* par = ic->streams[s]->codecpar;
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (!codec) fail(std::string("no decoder for codec '") + avcodec_get_name(par->codec_id) + "'");
    CodecPtr c(avcodec_alloc_context3(codec));
    if (!c) throw std::bad_alloc();
    int err = avcodec_parameters_to_context(c.get(), par);
    if (err < 0) fail("cannot set up the decoder", err);
    c->thread_count = 0;
    c->pkt_timebase = ic->streams[s]->time_base;
    err = avcodec_open2(c.get(), codec, nullptr);
    if (err < 0) fail(std::string("cannot open the ") + codec->name + " decoder", err);
    return c;
  }
};

/// One decoded picture -> RGB float, using the frame's own matrix and range.
struct FrameConverter {
  SwsPtr sws;
  int w = -1, h = -1, fmt = -1;
  std::vector<uint16_t> rgb;

  std::shared_ptr<ImageData> operator()(const InputFile& in, const AVFrame* f) {
    if (f->width != w || f->height != h || f->format != fmt) {
      w = f->width;
      h = f->height;
      fmt = f->format;
      if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide)
        in.fail("frame size " + std::to_string(w) + "x" + std::to_string(h) + " is not supported");
      sws.reset(sws_getContext(w, h, static_cast<AVPixelFormat>(fmt), w, h, AV_PIX_FMT_RGB48LE,
                               SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr));
      if (!sws) in.fail(std::string("cannot convert pixel format ") + av_get_pix_fmt_name(static_cast<AVPixelFormat>(fmt)));
      int cs = SWS_CS_ITU709;
      switch (f->colorspace) {
        case AVCOL_SPC_BT709: cs = SWS_CS_ITU709; break;
        case AVCOL_SPC_BT470BG: case AVCOL_SPC_SMPTE170M: cs = SWS_CS_ITU601; break;
        case AVCOL_SPC_SMPTE240M: cs = SWS_CS_SMPTE240M; break;
        case AVCOL_SPC_FCC: cs = SWS_CS_FCC; break;
        case AVCOL_SPC_BT2020_NCL: case AVCOL_SPC_BT2020_CL: cs = SWS_CS_BT2020; break;
        default: cs = h >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601; break;  // untagged: the usual guess
      }
      const int full = f->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
      const int* coef = sws_getCoefficients(cs);
      // Ignored by swscale for RGB sources (full range), used for YUV ones.
      sws_setColorspaceDetails(sws.get(), coef, full, coef, 1, 0, 1 << 16, 1 << 16);
      rgb.resize(static_cast<size_t>(w) * h * 3);
    }
    uint8_t* dst[1] = {reinterpret_cast<uint8_t*>(rgb.data())};
    const int stride[1] = {w * 3 * 2};
    const int err = sws_scale(sws.get(), f->data, f->linesize, 0, h, dst, stride);
    if (err < 0) in.fail("colour conversion failed", err);
    auto img = std::make_shared<ImageData>(w, h, 3, false);
    for (size_t i = 0; i < rgb.size(); ++i) img->pixels[i] = static_cast<float>(rgb[i]) / 65535.0f;
    return img;
  }
};

/// Decodes audio frames into interleaved float at the stream's rate and channel count.
struct AudioCollector {
  CodecPtr dec;
  SwrPtr swr;
  int rate = 0, channels = 0;
  std::vector<float> samples;  ///< interleaved sample frames from frame `offset` of the stream on
  int64_t offset = 0;
  /// Sample frames before this time are decoded and dropped, not kept (read_audio's start): memory holds the
  /// span read, not the stream's prefix.
  double drop_before_seconds = 0;

  void add(const InputFile& in, const AVFrame* f) {
    if (!swr) {
      rate = f->sample_rate;
      channels = f->ch_layout.nb_channels;
      if (rate <= 0 || channels <= 0) in.fail("audio stream has no sample rate or channels");
      AVChannelLayout out{}, in_layout{};
      av_channel_layout_default(&out, channels);
      int err = av_channel_layout_copy(&in_layout, &f->ch_layout);  // FFmpeg 5.1 takes non-const layouts
      SwrContext* raw = nullptr;
      if (err >= 0)
        err = swr_alloc_set_opts2(&raw, &out, AV_SAMPLE_FMT_FLT, rate, &in_layout,
                                  static_cast<AVSampleFormat>(f->format), rate, 0, nullptr);
      av_channel_layout_uninit(&out);
      av_channel_layout_uninit(&in_layout);
      swr.reset(raw);
      if (err < 0 || (err = swr_init(swr.get())) < 0) in.fail("cannot set up audio conversion", err);
    }
    const size_t at = samples.size();
    samples.resize(at + static_cast<size_t>(f->nb_samples + 32) * channels);
    uint8_t* out[1] = {reinterpret_cast<uint8_t*>(samples.data() + at)};
    const int got = swr_convert(swr.get(), out, f->nb_samples + 32, const_cast<const uint8_t**>(f->extended_data),
                                f->nb_samples);
    if (got < 0) in.fail("audio conversion failed", got);
    samples.resize(at + static_cast<size_t>(got) * channels);
    if (drop_before_seconds > 0) {
      const int64_t keep_from = std::llround(drop_before_seconds * rate);
      const int64_t drop = std::min(keep_from - offset, static_cast<int64_t>(samples.size()) / channels);
      if (drop > 0) {
        samples.erase(samples.begin(), samples.begin() + drop * channels);
        offset += drop;
      }
    }
  }
  /// The end of what was decoded, in sample frames from the stream's start (dropped ones included).
  int64_t frames() const { return channels ? offset + static_cast<int64_t>(samples.size()) / channels : 0; }

  /// Adds every frame the decoder has ready, checking `enough` after each; true at the end of the stream
  /// or once `enough()` holds (frames still in the decoder are then left there).
  template <typename Enough>
  bool receive(const InputFile& in, AVFrame* frame, const Enough& enough) {
    for (;;) {
      const int err = avcodec_receive_frame(dec.get(), frame);
      if (err == AVERROR(EAGAIN)) return false;
      if (err == AVERROR_EOF) return true;
      if (err < 0) in.fail("cannot decode audio", err);
      add(in, frame);
      av_frame_unref(frame);
      if (enough()) return true;
    }
  }
};

}  // namespace

VideoProbe probe_video(const std::filesystem::path& path) {
  InputFile in(path);
  const int s = in.video_stream();
  const AVStream* st = in.ic->streams[s];
  VideoProbe p;
  p.width = st->codecpar->width;
  p.height = st->codecpar->height;
  const AVRational r = in.frame_rate(s);
  p.fps_num = r.num;
  p.fps_den = r.den;
  p.frames = st->nb_frames > 0 ? st->nb_frames : -1;
  p.has_audio = in.audio_stream() >= 0;
  p.codec = avcodec_get_name(st->codecpar->codec_id);
  return p;
}

std::shared_ptr<VideoData> read_video(const std::filesystem::path& path, const VideoReadOptions& o,
                                      const std::function<void()>& cancel) {
  if (o.start < 0 || o.count < 0 || o.stride < 1 || o.count > kMaxVideoFrames)
    throw_invalid(path.string() + ": frame selection start " + std::to_string(o.start) + ", count " +
                  std::to_string(o.count) + ", stride " + std::to_string(o.stride) + " is invalid");
  InputFile in(path);
  const int vs = in.video_stream();
  const AVRational rate = in.frame_rate(vs);
  CodecPtr vdec = in.open_decoder(vs);
  AudioCollector audio;
  int as = -1;
  if (o.audio) {
    as = in.audio_stream();
    if (as >= 0) audio.dec = in.open_decoder(as);
  }
  const int64_t want = o.count > 0 ? o.count : kMaxVideoFrames;

  std::vector<ImagePtr> frames;
  FrameConverter convert;
  int64_t index = 0;  // frames decoded so far, in presentation order
  bool video_done = false, audio_done = as < 0;
  // The audio kept spans the selected frames: [start, start + n·stride) frame periods.
  auto audio_end = [&] {
    const int64_t end_frame = o.start + static_cast<int64_t>(frames.size()) * o.stride;
    return av_rescale_q(end_frame, AVRational{rate.den, rate.num}, AVRational{1, std::max(audio.rate, 1)});
  };

  FramePtr frame = new_frame();
  PacketPtr pkt = new_packet();
  auto take_video = [&] {
    for (;;) {
      const int err = avcodec_receive_frame(vdec.get(), frame.get());
      if (err == AVERROR(EAGAIN)) return;
      if (err == AVERROR_EOF) {
        video_done = true;
        return;
      }
      if (err < 0) in.fail("cannot decode video frame " + std::to_string(index), err);
      if (!video_done && index >= o.start && (index - o.start) % o.stride == 0) {
        frames.push_back(convert(in, frame.get()));
        if (cancel) cancel();
        if (static_cast<int64_t>(frames.size()) >= want) video_done = true;
      }
      ++index;
      av_frame_unref(frame.get());
    }
  };
  auto take_audio = [&] {
    if (audio.receive(in, frame.get(), [&] { return video_done && audio.rate > 0 && audio.frames() >= audio_end(); }))
      audio_done = true;
  };

  bool eof = false;
  while (!(video_done && audio_done)) {
    if (!eof) {
      const int err = av_read_frame(in.ic, pkt.get());
      if (err == AVERROR_EOF) {
        eof = true;
      } else if (err < 0) {
        in.fail("cannot read from the file", err);
      }
    }
    if (eof) {
      // Flush both decoders, then stop whatever is left.
      if (!video_done) {
        avcodec_send_packet(vdec.get(), nullptr);
        take_video();
        video_done = true;
      }
      if (!audio_done) {
        avcodec_send_packet(audio.dec.get(), nullptr);
        take_audio();
        audio_done = true;
      }
      break;
    }
    if (pkt->stream_index == vs && !video_done) {
      const int err = avcodec_send_packet(vdec.get(), pkt.get());
      if (err < 0 && err != AVERROR(EAGAIN)) in.fail("cannot decode video frame " + std::to_string(index), err);
      take_video();
    } else if (pkt->stream_index == as && !audio_done) {
      const int err = avcodec_send_packet(audio.dec.get(), pkt.get());
      if (err < 0 && err != AVERROR(EAGAIN)) in.fail("cannot decode audio", err);
      take_audio();
    }
    av_packet_unref(pkt.get());
    if (video_done && !audio_done && audio.rate > 0 && audio.frames() >= audio_end()) audio_done = true;
  }
  if (frames.empty())
    in.fail(index == 0 ? "holds no decodable video frames"
                       : "has " + std::to_string(index) + " frames, none at or after frame " + std::to_string(o.start));

  std::shared_ptr<AudioData> track;
  if (audio.rate > 0 && audio.channels > 0) {
    const int64_t a0 = av_rescale_q(o.start, AVRational{rate.den, rate.num}, AVRational{1, audio.rate});
    const int64_t a1 = std::min(audio_end(), audio.frames());
    if (a1 > a0) {
      std::vector<float> s(audio.samples.begin() + a0 * audio.channels, audio.samples.begin() + a1 * audio.channels);
      track = std::make_shared<AudioData>(audio.rate, audio.channels, std::move(s));
    }
  }
  int num = rate.num, den = rate.den;
  if (o.stride > 1) {
    int64_t n = num, d = static_cast<int64_t>(den) * o.stride;
    av_reduce(&num, &den, n, d, INT32_MAX);
  }
  return std::make_shared<VideoData>(std::move(frames), num, den, std::move(track));
}

AudioProbe probe_audio(const std::filesystem::path& path) {
  InputFile in(path, "sound file");
  const AVStream* st = in.ic->streams[in.required_audio_stream()];
  AudioProbe p;
  p.sample_rate = st->codecpar->sample_rate;
  p.channels = st->codecpar->ch_layout.nb_channels;
  if (st->duration > 0) {
    p.seconds = static_cast<double>(st->duration) * av_q2d(st->time_base);
  } else if (in.ic->duration > 0) {
    p.seconds = static_cast<double>(in.ic->duration) / AV_TIME_BASE;
  }
  p.codec = avcodec_get_name(st->codecpar->codec_id);
  return p;
}

std::string seconds_text(double seconds, const char* format) {
  char b[40];
  std::snprintf(b, sizeof b, format, seconds);
  return b;
}

std::shared_ptr<AudioData> read_audio(const std::filesystem::path& path, const AudioReadOptions& o,
                                      const std::function<void()>& cancel) {
  if (!(o.start >= 0) || !(o.duration >= 0) || !std::isfinite(o.start + o.duration))
    throw_invalid(path.string() + ": audio span start " + seconds_text(o.start) + ", duration " +
                  seconds_text(o.duration) + " is invalid");
  InputFile in(path, "sound file");
  const int as = in.required_audio_stream();
  AudioCollector audio;
  audio.dec = in.open_decoder(as);
  audio.drop_before_seconds = o.start;
  // Sample frames [first, last) of the stream; the rate is known from the first decoded frame.
  const auto first = [&] { return static_cast<int64_t>(std::llround(o.start * audio.rate)); };
  const auto last = [&] {
    return o.duration > 0 ? static_cast<int64_t>(std::llround((o.start + o.duration) * audio.rate))
                          : std::numeric_limits<int64_t>::max();
  };
  const auto enough = [&] { return audio.rate > 0 && audio.frames() >= last(); };
  FramePtr frame = new_frame();
  PacketPtr pkt = new_packet();
  for (bool done = false; !done;) {
    const int err = av_read_frame(in.ic, pkt.get());
    if (err == AVERROR_EOF) {
      avcodec_send_packet(audio.dec.get(), nullptr);
      audio.receive(in, frame.get(), enough);
      break;
    }
    if (err < 0) in.fail("cannot read from the file", err);
    if (pkt->stream_index == as) {
      const int e = avcodec_send_packet(audio.dec.get(), pkt.get());
      if (e < 0 && e != AVERROR(EAGAIN)) in.fail("cannot decode audio", e);
      done = audio.receive(in, frame.get(), enough);
      if (cancel) cancel();
    }
    av_packet_unref(pkt.get());
  }
  if (audio.frames() == 0) in.fail("holds no decodable audio");
  const int64_t a0 = first(), a1 = std::min(last(), audio.frames());
  if (a0 >= a1)
    in.fail("its audio lasts " + seconds_text(static_cast<double>(audio.frames()) / audio.rate) +
            ", nothing at or after start " + seconds_text(o.start));
  std::vector<float> s(audio.samples.begin() + (a0 - audio.offset) * audio.channels,
                       audio.samples.begin() + (a1 - audio.offset) * audio.channels);
  return std::make_shared<AudioData>(audio.rate, audio.channels, std::move(s));
}

}  // namespace lattice
