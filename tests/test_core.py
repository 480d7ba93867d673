"""Bad inputs and edge cases of seqlab.core that do not belong in the notebook's story."""
import os
from unittest import mock

import pytest
import torch

from seqlab.core import default_device, env_report, mode_banner, quick_mode, set_seed, smoke_batches, smoke_mode


def test_quick_mode_env_values():
    for v, want in [('1', True), ('true', True), ('0', False), ('off', False)]:
        with mock.patch.dict(os.environ, {'SEQLAB_QUICK': v}):
            assert quick_mode() is want


def test_quick_mode_unset_follows_cuda():
    env = {k: v for k, v in os.environ.items() if k != 'SEQLAB_QUICK'}
    with mock.patch.dict(os.environ, env, clear=True):
        assert quick_mode() is (not torch.cuda.is_available())


def test_quick_mode_rejects_garbage():
    with mock.patch.dict(os.environ, {'SEQLAB_QUICK': 'fast'}):
        with pytest.raises(ValueError, match='SEQLAB_QUICK'):
            quick_mode()


def test_banner_names_mode_and_switch():
    with mock.patch.dict(os.environ, {'SEQLAB_QUICK': '1'}):
        b = mode_banner('IMDb')
        assert 'QUICK' in b and 'GENERATED' in b and 'SEQLAB_QUICK=0' in b
    with mock.patch.dict(os.environ, {'SEQLAB_QUICK': '0'}):
        b = mode_banner('IMDb')
        assert 'FULL' in b and 'IMDb' in b and 'SEQLAB_QUICK=1' in b


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error raised without CUDA')
def test_cuda_request_without_cuda_is_clear():
    with pytest.raises(RuntimeError, match='CUDA is not available'):
        default_device('cuda')


def test_seed_repeats_and_rejects_non_int():
    set_seed(3)
    a = torch.randn(4)
    set_seed(3)
    assert torch.equal(a, torch.randn(4))
    with pytest.raises(TypeError):
        set_seed(1.5)


def test_env_report_fields():
    r = env_report()
    assert r['mode'] in ('quick', 'full') and r['torch'] == torch.__version__


def test_unknown_device_name_is_clear():
    with pytest.raises(ValueError, match="Unknown device 'gpu'.*'cpu', 'cuda'"):
        default_device('gpu')


@pytest.mark.skipif(hasattr(torch.backends, 'mps') and torch.backends.mps.is_available(), reason='checks the error raised without MPS')
def test_mps_request_without_mps_is_clear():
    with pytest.raises(RuntimeError, match="'mps'.*MPS .*not available"):
        default_device('mps')


def test_cuda_index_beyond_the_devices_is_clear():
    with mock.patch.object(torch.cuda, 'is_available', return_value=True), \
         mock.patch.object(torch.cuda, 'device_count', return_value=1):
        with pytest.raises(RuntimeError, match="'cuda:3'.*1 CUDA device"):
            default_device('cuda:3')
        assert default_device('cuda:0') == torch.device('cuda', 0)


@pytest.mark.parametrize('seed', [2**70, 2**64, -1])
def test_seed_out_of_range_is_refused_at_the_boundary(seed):
    with pytest.raises(ValueError, match=r'seed must lie in 0 \.\. 2\*\*64 - 1'):
        set_seed(seed)


def test_largest_seed_works():
    assert set_seed(2**64 - 1) == 2**64 - 1
    set_seed(0)


def test_smoke_batches_env():
    with mock.patch.dict(os.environ, {'SEQLAB_SMOKE_BATCHES': ''}):
        assert smoke_batches() == 3
    with mock.patch.dict(os.environ, {'SEQLAB_SMOKE_BATCHES': '12'}):
        assert smoke_batches() == 12
    for bad in ('0', '-2', 'many', '1.5'):
        with mock.patch.dict(os.environ, {'SEQLAB_SMOKE_BATCHES': bad}):
            with pytest.raises(ValueError, match='SEQLAB_SMOKE_BATCHES'):
                smoke_batches()


def test_env_report_says_smoke():
    with mock.patch.dict(os.environ, {'SEQLAB_SMOKE': '1'}):
        assert env_report()['smoke'] is True and smoke_mode()


def test_a_cut_list_remembers_its_length():
    from seqlab.core import smoke_limit
    with mock.patch.dict(os.environ, {'SEQLAB_SMOKE': '1'}):
        for items, want in (([0, 1, 2], [0]), ((0, 1, 2), (0,)), ({'a': 1, 'b': 2, 'c': 3}, {'a': 1}), (range(3), [0])):
            cut = smoke_limit(items)
            assert cut == want and type(cut).__mro__[1] is type(want) and cut.n_all == 3
        assert smoke_limit(smoke_limit([0, 1, 2, 3], 2)).n_all == 4  # cut twice: the first length
    with mock.patch.dict(os.environ, {'SEQLAB_SMOKE': '0'}):
        items = [0, 1, 2]
        assert smoke_limit(items) is items
