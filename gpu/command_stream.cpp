#include "gpu/command_stream.h"

#include <algorithm>
#include <string>

#include "gpu/allocator.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/pipeline_cache.h"
#include "gpu/profile.h"

namespace lattice::gpu {

CommandStream::CommandStream(Context& context) : context_(context) {
  VkDevice dev = context.device().handle();
  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool_info.queueFamilyIndex = context.device().queue_family();
  LATTICE_VK_CHECK(vkCreateCommandPool(dev, &pool_info, nullptr, &pool_));
  VkSemaphoreTypeCreateInfo type_info{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  type_info.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  VkSemaphoreCreateInfo sem_info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type_info};
  VkResult r = vkCreateSemaphore(dev, &sem_info, nullptr, &timeline_);
  if (r != VK_SUCCESS) {
    vkDestroyCommandPool(dev, pool_, nullptr);
    throw_vk(r, "vkCreateSemaphore", __FILE__, __LINE__);
  }
  const VkPhysicalDeviceLimits& limits = context.device().limits();
  profiling_ = profile::enabled() && limits.timestampComputeAndGraphics;
  timestamp_ns_ = limits.timestampPeriod;
}

CommandStream::~CommandStream() {
  VkDevice dev = context_.device().handle();
  if (submitted_ > 0) {
    VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    info.semaphoreCount = 1;
    info.pSemaphores = &timeline_;
    info.pValues = &submitted_;
    // A lost device cannot be waited for; destruction must not throw, so the result is only a hint.
    if (vkWaitSemaphores(dev, &info, UINT64_MAX) != VK_SUCCESS) vkDeviceWaitIdle(dev);
  }
  for (auto& b : in_flight_) collect_profile(b);
  for (VkQueryPool p : current_.pools) vkDestroyQueryPool(dev, p, nullptr);
  for (VkQueryPool p : free_pools_) vkDestroyQueryPool(dev, p, nullptr);
  vkDestroySemaphore(dev, timeline_, nullptr);
  vkDestroyCommandPool(dev, pool_, nullptr);  // frees every command buffer
}

void CommandStream::begin_if_needed() {
  if (current_.cmd != VK_NULL_HANDLE) return;
  VkDevice dev = context_.device().handle();
  if (free_cmds_.empty()) {
    VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    info.commandPool = pool_;
    info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    info.commandBufferCount = 1;
    VkCommandBuffer cmd;
    LATTICE_VK_CHECK(vkAllocateCommandBuffers(dev, &info, &cmd));
    free_cmds_.push_back(cmd);
  }
  current_.cmd = free_cmds_.back();
  free_cmds_.pop_back();
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  LATTICE_VK_CHECK(vkBeginCommandBuffer(current_.cmd, &begin));
  if (profiling_) stamp();
}

void CommandStream::stamp() {
  const uint32_t slot = current_.queries % kQueriesPerPool;
  if (slot == 0) {
    VkQueryPool pool = VK_NULL_HANDLE;
    if (!free_pools_.empty()) {
      pool = free_pools_.back();
      free_pools_.pop_back();
    } else {
      VkQueryPoolCreateInfo info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
      info.queryType = VK_QUERY_TYPE_TIMESTAMP;
      info.queryCount = kQueriesPerPool;
      LATTICE_VK_CHECK(vkCreateQueryPool(context_.device().handle(), &info, nullptr, &pool));
    }
    current_.pools.push_back(pool);
    vkCmdResetQueryPool(current_.cmd, pool, 0, kQueriesPerPool);
  }
  vkCmdWriteTimestamp(current_.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, current_.pools.back(), slot);
  ++current_.queries;
}

void CommandStream::end_command(const char* kernel_name) {
  ++recorded_;
  if (!profiling_) return;
  stamp();
  current_.labels.push_back(next_label_.empty() ? std::string(kernel_name) : std::move(next_label_));
  next_label_.clear();
}

void CommandStream::label(std::string text) {
  if (profiling_) next_label_ = std::move(text);
}

void CommandStream::collect_profile(Batch& b) {
  if (b.pools.empty()) return;
  std::vector<uint64_t> t(b.queries);
  bool ok = true;
  for (size_t p = 0; p < b.pools.size(); ++p) {
    const uint32_t first = static_cast<uint32_t>(p) * kQueriesPerPool;
    const uint32_t n = std::min(kQueriesPerPool, b.queries - first);
    ok = ok && vkGetQueryPoolResults(context_.device().handle(), b.pools[p], 0, n, n * sizeof(uint64_t), t.data() + first,
                                     sizeof(uint64_t), VK_QUERY_RESULT_64_BIT) == VK_SUCCESS;
  }
  if (ok)
    for (size_t i = 0; i < b.labels.size(); ++i)
      profile::add(b.labels[i], static_cast<double>(t[i + 1] - t[i]) * timestamp_ns_);
  free_pools_.insert(free_pools_.end(), b.pools.begin(), b.pools.end());
  b.pools.clear();
  b.labels.clear();
}

void CommandStream::barrier() {
  if (recorded_ == 0) return;  // the queue submission itself orders this batch after earlier ones
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                    VK_ACCESS_TRANSFER_WRITE_BIT;
  VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(current_.cmd, stages, stages, 0, 1, &b, 0, nullptr, 0, nullptr);
}

void CommandStream::dispatch(const Pipeline& pipeline, std::span<const Arg> args, const void* push,
                             uint32_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz) {
  const KernelDesc& k = *pipeline.kernel;
  if (args.size() != k.bindings.size() || push_bytes != k.push_constant_bytes)
    throw_unsupported(std::string("dispatch of ") + k.name + ": " + std::to_string(args.size()) + " args / " +
                      std::to_string(push_bytes) + " push bytes, kernel declares " +
                      std::to_string(k.bindings.size()) + " / " + std::to_string(k.push_constant_bytes));
  const auto& limits = context_.device().limits();
  if (gx > limits.maxComputeWorkGroupCount[0] || gy > limits.maxComputeWorkGroupCount[1] ||
      gz > limits.maxComputeWorkGroupCount[2])
    throw_unsupported(std::string("dispatch of ") + k.name + " needs more workgroups than the device allows");
  begin_if_needed();
  barrier();
  std::vector<VkDescriptorBufferInfo> infos(args.size());
  std::vector<VkBufferView> views(args.size(), VK_NULL_HANDLE);
  std::vector<VkWriteDescriptorSet> writes(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    VkWriteDescriptorSet& w = writes[i];
    w = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstBinding = static_cast<uint32_t>(i);
    w.descriptorCount = 1;
    if (k.bindings[i] == BindingKind::Storage) {
      infos[i] = {args[i].buffer->handle(), 0, args[i].buffer->size()};
      w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w.pBufferInfo = &infos[i];
    } else {
      views[i] = args[i].buffer->texel_view(args[i].texel_format);
      w.descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      w.pTexelBufferView = &views[i];
    }
    current_.keep.push_back(args[i].buffer);
  }
  vkCmdBindPipeline(current_.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
  context_.device().cmd_push_descriptor_set(current_.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0,
                                            static_cast<uint32_t>(writes.size()), writes.data());
  if (push_bytes) vkCmdPushConstants(current_.cmd, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(current_.cmd, gx, gy, gz);
  end_command(k.name);
}

void CommandStream::copy(const std::shared_ptr<Buffer>& src, uint64_t src_offset, const std::shared_ptr<Buffer>& dst,
                         uint64_t dst_offset, uint64_t bytes) {
  begin_if_needed();
  barrier();
  VkBufferCopy region{src_offset, dst_offset, bytes};
  vkCmdCopyBuffer(current_.cmd, src->handle(), dst->handle(), 1, &region);
  current_.keep.push_back(src);
  current_.keep.push_back(dst);
  end_command("copy_buffer");
}

uint64_t CommandStream::submit() {
  if (current_.cmd == VK_NULL_HANDLE) return submitted_;
  // Makes the batch's writes available to the host, which Staging reads by memcpy when memory is mapped.
  VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(current_.cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr, 0, nullptr);
  LATTICE_VK_CHECK(vkEndCommandBuffer(current_.cmd));
  uint64_t value = submitted_ + 1;
  VkTimelineSemaphoreSubmitInfo timeline{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  timeline.signalSemaphoreValueCount = 1;
  timeline.pSignalSemaphoreValues = &value;
  VkSubmitInfo info{VK_STRUCTURE_TYPE_SUBMIT_INFO, &timeline};
  info.commandBufferCount = 1;
  info.pCommandBuffers = &current_.cmd;
  info.signalSemaphoreCount = 1;
  info.pSignalSemaphores = &timeline_;
  {
    std::lock_guard lock(context_.device().queue_mutex());
    LATTICE_VK_CHECK(vkQueueSubmit(context_.device().queue(), 1, &info, VK_NULL_HANDLE));
  }
  submitted_ = value;
  current_.value = value;
  in_flight_.push_back(std::move(current_));
  current_ = Batch{};
  recorded_ = 0;
  return value;
}

void CommandStream::wait(uint64_t value) {
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  info.semaphoreCount = 1;
  info.pSemaphores = &timeline_;
  info.pValues = &value;
  LATTICE_VK_CHECK(vkWaitSemaphores(context_.device().handle(), &info, UINT64_MAX));
  reclaim(value);
}

void CommandStream::finish() { wait(submit()); }

void CommandStream::reclaim(uint64_t completed) {
  while (!in_flight_.empty() && in_flight_.front().value <= completed) {
    Batch& b = in_flight_.front();
    collect_profile(b);
    LATTICE_VK_CHECK(vkResetCommandBuffer(b.cmd, 0));
    free_cmds_.push_back(b.cmd);
    in_flight_.pop_front();
  }
}

}  // namespace lattice::gpu
