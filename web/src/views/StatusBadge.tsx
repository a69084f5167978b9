import type { StoreFieldsFragment } from '../graphql/generated';
import { STATUS_LABEL } from '../format';

export function StatusBadge({ store }: { store: Pick<StoreFieldsFragment, 'status' | 'progress'> }) {
  const { status, progress } = store;
  const showProgress = (status === 'PROVISIONING' || status === 'PENDING') && progress.total > 0;
  return (
    <span className={`badge badge-${status.toLowerCase()}`} data-status={status}>
      {STATUS_LABEL[status]}
      {showProgress && (
        <>
          {' '}
          <progress
            max={progress.total}
            value={progress.done}
            aria-label={`${progress.done} of ${progress.total} steps done`}
          />
          <span className="steps">
            {progress.done}/{progress.total}
          </span>
        </>
      )}
    </span>
  );
}
